"""A small built-in emotional-speech corpus: rendered audio, real features.

No downloads: each utterance is a synthetic voiced signal whose pitch level,
pitch range and slope, loudness, syllable tempo, jitter and spectral tilt
follow its emotion class (loosely after the acoustic correlates reported in
the speech-emotion literature: anger/happiness high, loud, bright and fast;
sadness/boredom low, soft, dull and slow), rendered for several synthetic
speakers whose base pitch and formants differ, with per-utterance variation
and additive noise. The waveforms then go through the real
`audio.logmel_segments`, so a demo on this corpus exercises the same
feature pipeline as one on EMO-DB.

Per-utterance variation is large enough that classes overlap (a linear
classifier on the flattened segments stays below 100%) while staying
learnable (well above chance).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import threadpoolctl
from scipy import signal

from data_prep import audio
from data_prep import labels
from data_prep.store import FeatureSet

# Which harmonised classes a k-class corpus uses: the first k of this list
# (the common "basic" emotions first), reported in EMOTIONS order.
_CLASS_PREFERENCE = ('neutral', 'anger', 'happiness', 'sadness', 'fear',
                     'disgust', 'boredom', 'surprise', 'calm')


@dataclasses.dataclass(frozen=True)
class Prosody:
  """Class prototype of the acoustic contours.

  Attributes:
    pitch: f0 level relative to the speaker's base pitch.
    pitch_range: relative depth of the f0 movement within the utterance.
    pitch_slope: relative f0 change from start to end (declination < 0).
    gain_db: loudness offset in dB.
    tempo: syllables per second (amplitude-envelope rate).
    jitter: relative random f0 perturbation (voice instability).
    tilt: 0..1, one-pole low-pass coefficient (higher = duller voice).
  """
  pitch: float
  pitch_range: float
  pitch_slope: float
  gain_db: float
  tempo: float
  jitter: float
  tilt: float


PROSODY: dict[str, Prosody] = {
    'neutral':   Prosody(1.00, 0.06, -0.05,  0.0, 4.0, 0.010, 0.70),
    'calm':      Prosody(0.95, 0.05, -0.05, -3.0, 3.4, 0.008, 0.75),
    'anger':     Prosody(1.30, 0.14, -0.10,  6.0, 5.2, 0.020, 0.45),
    'boredom':   Prosody(0.88, 0.03, -0.08, -4.0, 3.0, 0.010, 0.78),
    'disgust':   Prosody(0.95, 0.12, -0.15,  0.0, 3.5, 0.020, 0.65),
    'fear':      Prosody(1.35, 0.10,  0.05, -1.0, 5.8, 0.045, 0.60),
    'happiness': Prosody(1.30, 0.24,  0.10,  4.0, 4.8, 0.015, 0.55),
    'sadness':   Prosody(0.90, 0.04, -0.10, -6.0, 3.0, 0.015, 0.82),
    'surprise':  Prosody(1.45, 0.30,  0.30,  3.0, 4.4, 0.015, 0.55),
}


def class_names(num_classes: int) -> tuple[str, ...]:
  """The `num_classes` harmonised names used, in EMOTIONS order."""
  if not 2 <= num_classes <= len(_CLASS_PREFERENCE):
    raise ValueError(f'num_classes must be in [2, {len(_CLASS_PREFERENCE)}]')
  return labels.ordered(_CLASS_PREFERENCE[:num_classes])


@dataclasses.dataclass(frozen=True)
class Speaker:
  """A synthetic speaker: id, sex, base f0 (Hz), two formants (Hz)."""
  id: str
  sex: str
  f0: float
  formants: tuple[float, float]


def make_speakers(rng: np.random.Generator, num_speakers: int) -> list[Speaker]:
  """Alternating f/m speakers with sex- and speaker-dependent voices."""
  speakers = []
  for i in range(num_speakers):
    sex = 'f' if i % 2 == 0 else 'm'
    f0 = rng.uniform(180, 240) if sex == 'f' else rng.uniform(95, 135)
    scale = 1.15 if sex == 'f' else 1.0  # shorter vocal tract
    formants = (scale * rng.uniform(550, 750), scale * rng.uniform(1200, 1800))
    speakers.append(Speaker(f'S{i:02d}', sex, float(f0), formants))
  return speakers


def render(rng: np.random.Generator, speaker: Speaker, emotion: str,
           duration: float, sr: int = 16000) -> np.ndarray:
  """One utterance of `emotion` by `speaker`.

  Each class prototype is perturbed per utterance (so classes overlap), then
  a sawtooth glottal source following the f0 contour is shaped by a
  spectral-tilt low-pass and two formant resonators, gated by a syllable
  envelope at the class tempo, and mixed with white noise at 12–25 dB SNR.

  Returns:
    float32[round(duration·sr)] waveform, peak well below 1.
  """
  p = PROSODY[emotion]
  n = int(round(duration * sr))
  t = np.arange(n) / sr
  u = t / duration  # 0..1 through the utterance

  # Per-utterance deviations from the class prototype.
  pitch = p.pitch * np.exp(rng.normal(0, 0.07))
  prange = p.pitch_range * np.exp(rng.normal(0, 0.35))
  slope = p.pitch_slope + rng.normal(0, 0.08)
  gain_db = p.gain_db + rng.normal(0, 1.5)
  tempo = p.tempo * np.exp(rng.normal(0, 0.10))
  tilt = float(np.clip(p.tilt + rng.normal(0, 0.05), 0.05, 0.95))

  # f0 contour: level × (declination + one or two smooth accents + jitter).
  accent_phase = rng.uniform(0, 2 * np.pi)
  accents = np.sin(2 * np.pi * rng.uniform(0.6, 1.6) * u + accent_phase)
  jitter = signal.lfilter([0.05], [1, -0.95], rng.normal(0, 1, n)) * p.jitter
  f0 = speaker.f0 * pitch * (1 + slope * (u - 0.5) + prange * accents + jitter)
  f0 = np.clip(f0, 50, 0.45 * sr)
  phase = np.cumsum(f0) / sr
  source = 2.0 * (phase % 1.0) - 1.0

  # Spectral tilt, then formants (speaker's, slightly moved per utterance).
  voiced = signal.lfilter([1 - tilt], [1, -tilt], source)
  for fc in speaker.formants:
    fc = fc * np.exp(rng.normal(0, 0.08))
    b, a = signal.iirpeak(fc, Q=4.0, fs=sr)
    voiced = voiced + 2.0 * signal.lfilter(b, a, voiced)

  # Syllables: raised-sine gates at the class tempo, short fades at the ends.
  gate = np.maximum(0, np.sin(2 * np.pi * tempo * t + rng.uniform(0, 2 * np.pi)))
  fade = np.minimum(1, np.minimum(t, duration - t) / 0.05)
  env = (0.15 + 0.85 * gate ** 0.6) * fade
  y = voiced * env
  y *= 0.05 * 10 ** (gain_db / 20) / (np.sqrt(np.mean(y ** 2)) + 1e-9)

  snr_db = rng.uniform(12, 25)
  noise_rms = np.sqrt(np.mean(y ** 2)) * 10 ** (-snr_db / 20)
  y = y + rng.normal(0, noise_rms, n)
  return y.astype(np.float32)


def make_corpus(seed: int = 0, num_speakers: int = 6, num_classes: int = 5,
                utterances_per_class: int = 8, sr: int = 16000) -> FeatureSet:
  """The small built-in corpus used by the demo and the tests.

  Args:
    seed: everything (speakers, variations, noise) derives from it.
    num_speakers: synthetic speakers, alternating female/male.
    num_classes: 2..9 emotions (neutral, anger, happiness, sadness, fear, ...).
    utterances_per_class: utterances per (speaker, class) pair.
    sr: sample rate of the rendered audio.

  Returns:
    FeatureSet with x float32[n, 64, 64, 3] from `audio.logmel_segments`
    (default parameters); utterances last 1.0–1.5 s → 2–3 segments each, so
    the defaults give 240 utterances and about 570 segments. corpus =
    'synthetic'; utterance ids 'S00/anger/003'.
  """
  rng = np.random.default_rng(seed)
  names = class_names(num_classes)
  speakers = make_speakers(rng, num_speakers)
  xs, label, utt, spk, sex, utt_ids = [], [], [], [], [], []
  # Tiny matrices: BLAS threads only fight other processes (4× slower on a
  # busy 2-core machine), so keep BLAS single-threaded while rendering.
  with threadpoolctl.threadpool_limits(limits=1):
    for s in speakers:
      for c, emotion in enumerate(names):
        for k in range(utterances_per_class):
          y = render(rng, s, emotion, rng.uniform(1.0, 1.5), sr)
          seg = audio.logmel_segments(y, sr)
          xs.append(seg)
          label += [c] * len(seg)
          utt += [len(utt_ids)] * len(seg)
          spk += [s.id] * len(seg)
          sex += [s.sex] * len(seg)
          utt_ids.append(f'{s.id}/{emotion}/{k:03d}')
  n = len(label)
  params = dict(audio.logmel_params(), sr=sr, corpus='synthetic',
                modality='audio', seed=seed, num_speakers=num_speakers,
                num_classes=num_classes,
                utterances_per_class=utterances_per_class)
  return FeatureSet(
      x=np.concatenate(xs).astype(np.float32),
      label=np.asarray(label, np.int32),
      utterance=np.asarray(utt, np.int32),
      speaker=np.asarray(spk),
      corpus=np.full(n, 'synthetic'),
      sex=np.asarray(sex),
      class_names=names,
      utterance_ids=tuple(utt_ids),
      params=params)
