"""Audio loading and the paper's log-mel + Δ + ΔΔ segments.

Nguyen et al. 2023 (after Zhang et al. 2018): 64 mel bands over 20–8000 Hz,
25 ms Hamming window, 10 ms hop, static/Δ/ΔΔ stacked as three channels, cut
into windows of 64 frames overlapping by 30. librosa's defaults (sr=22050,
n_mels=128, hann) differ from all of that, so every parameter is passed
explicitly.
"""
from __future__ import annotations

import inspect
import os
from typing import Any

import librosa
import numpy as np
import soundfile as sf
import threadpoolctl

from data_prep import formats



class AudioError(ValueError):
  """An audio file is empty, unreadable or has no audio track."""


def load_audio(path: str | os.PathLike, sr: int = 16000) -> np.ndarray:
  """Reads any audio file (or a video's audio track) as mono float32 at `sr`.

  wav/flac/ogg go through soundfile; video containers (.avi, .mp4, ...) and
  anything soundfile rejects are decoded with PyAV (no system ffmpeg needed).
  Stereo is averaged to mono, then resampled with librosa (soxr).

  Args:
    path: the file.
    sr: target sample rate in Hz.

  Returns:
    float32[n] samples, n ≥ 1.

  Raises:
    AudioError: the file is missing, unreadable, empty or has no audio stream;
      the message names the file and says why.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise AudioError(f'{path}: no such file')
  if os.path.getsize(path) == 0:
    raise AudioError(f'{path}: empty file (0 bytes)')
  if path.lower().endswith(formats.AV_AUDIO_EXTS):
    y, native_sr = _read_av(path)
  else:
    try:
      y, native_sr = _read_soundfile(path)
    except AudioError:
      raise
    except Exception as sf_err:  # pylint: disable=broad-except
      # Some formats libsndfile lacks (e.g. mp3 on old builds): let PyAV try.
      try:
        y, native_sr = _read_av(path)
      except AudioError as av_err:
        name = os.path.basename(path)  # the path leads the message once
        sf_msg = str(sf_err).replace(path, name)
        av_msg = str(av_err).removeprefix(f'{path}: ').replace(path, name)
        raise AudioError(f'{path}: unreadable audio (soundfile: {sf_msg}; '
                         f'PyAV: {av_msg})') from None
  if y.size == 0:
    raise AudioError(f'{path}: contains no audio samples')
  if not np.all(np.isfinite(y)):
    raise AudioError(f'{path}: contains non-finite samples')
  if native_sr != sr:
    y = librosa.resample(y, orig_sr=native_sr, target_sr=sr)
  return np.ascontiguousarray(y, dtype=np.float32)


def _read_soundfile(path: str) -> tuple[np.ndarray, int]:
  """soundfile read → (float32[n] mono, native rate)."""
  y, native_sr = sf.read(path, dtype='float32', always_2d=True)
  return y.mean(axis=1), int(native_sr)


def _read_av(path: str) -> tuple[np.ndarray, int]:
  """PyAV decode of the first audio stream → (float32[n] mono, native rate)."""
  import av  # pylint: disable=g-import-not-at-top  (heavy; only for video)
  try:
    with av.open(path) as container:
      if not container.streams.audio:
        raise AudioError(f'{path}: no audio stream in the container')
      stream = container.streams.audio[0]
      native_sr = int(stream.rate or stream.codec_context.sample_rate)
      # Planar float keeps channels apart so that the downmix is a plain mean,
      # the same as for soundfile input.
      resampler = av.AudioResampler(format='fltp', rate=native_sr)
      chunks = []
      for frame in container.decode(stream):
        for out in resampler.resample(frame):
          chunks.append(out.to_ndarray())
      for out in resampler.resample(None):  # flush
        chunks.append(out.to_ndarray())
  except AudioError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    msg = str(e).replace(path, os.path.basename(path))
    raise AudioError(f'{path}: unreadable ({type(e).__name__}: {msg})') from None
  if not chunks:
    return np.zeros(0, np.float32), native_sr
  y = np.concatenate(chunks, axis=1).astype(np.float32)
  return y.mean(axis=0), native_sr


def next_pow2(n: int) -> int:
  """Smallest power of two ≥ n."""
  return 1 << max(0, int(n) - 1).bit_length()


def logmel_segments(
    y: np.ndarray,
    sr: int,
    *,
    n_mels: int = 64,
    fmin: float = 20.0,
    fmax: float = 8000.0,
    win_ms: float = 25.0,
    hop_ms: float = 10.0,
    n_fft: int | None = None,
    window: str = 'hamming',
    center: bool = True,
    power: float = 2.0,
    ref: float = 1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
    delta_width: int = 9,
    segment_frames: int = 64,
    segment_overlap: int = 30,
) -> np.ndarray:
  """Log-mel spectrogram with Δ and ΔΔ, cut into overlapping segments.

  Args:
    y: float[n] mono waveform, n ≥ 1.
    sr: its sample rate in Hz.
    n_mels: mel bands (paper: 64).
    fmin: lowest mel band edge in Hz (paper: 20).
    fmax: highest mel band edge in Hz (paper: 8000); clipped to sr/2.
    win_ms: analysis window length in ms (paper: 25 → 400 samples at 16 kHz).
    hop_ms: frame hop in ms (paper: 10 → 160 samples at 16 kHz).
    n_fft: FFT size; None → next power of two ≥ the window (512 at 16 kHz).
    window: window function (paper: Hamming).
    center: librosa's frame centring (frames cover [t - win/2, t + win/2];
      the paper is silent, librosa's default kept). n_frames = 1 + n // hop.
    power: 2.0 → power spectrogram.
    ref: `librosa.power_to_db` reference (1.0: absolute dB).
    amin: `power_to_db` floor, so silence gives finite -100 dB.
    top_db: `power_to_db` dynamic-range clip below the utterance's peak
      (librosa's default 80 dB); None disables it.
    delta_width: Δ/ΔΔ regression width in frames (paper: 9). Computed on the
      whole utterance before windowing. librosa's 'interp' mode needs
      n_frames ≥ width; shorter utterances use mode='nearest' (edge frames
      repeated) at the same width instead of raising.
    segment_frames: frames per segment (paper: 64).
    segment_overlap: frames shared by consecutive segments (paper: 30, so
      the segment hop is 34 frames).

  Returns:
    float32[n_segments, n_mels, segment_frames, 3]: (mel band, frame,
    static/Δ/ΔΔ). Segments start every `segment_frames - segment_overlap`
    frames; a trailing partial window is dropped. An utterance shorter than
    one segment gives exactly one segment, padded at the end with the
    utterance's lowest static value (its silence floor) and zero deltas.
  """
  y = np.asarray(y, dtype=np.float32)
  if y.ndim != 1 or y.size == 0:
    raise AudioError(f'expected a non-empty mono waveform, got shape {y.shape}')
  if segment_overlap >= segment_frames:
    raise ValueError('segment_overlap must be smaller than segment_frames')
  feats = logmel_deltas(
      y, sr, n_mels=n_mels, fmin=fmin, fmax=fmax, win_ms=win_ms,
      hop_ms=hop_ms, n_fft=n_fft, window=window, center=center, power=power,
      ref=ref, amin=amin, top_db=top_db, delta_width=delta_width)
  return segment(feats, segment_frames, segment_frames - segment_overlap)


def logmel_deltas(
    y: np.ndarray,
    sr: int,
    *,
    n_mels: int = 64,
    fmin: float = 20.0,
    fmax: float = 8000.0,
    win_ms: float = 25.0,
    hop_ms: float = 10.0,
    n_fft: int | None = None,
    window: str = 'hamming',
    center: bool = True,
    power: float = 2.0,
    ref: float = 1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
    delta_width: int = 9,
) -> np.ndarray:
  """Whole-utterance features before windowing (see `logmel_segments`).

  Returns:
    float32[n_mels, n_frames, 3] (static, Δ, ΔΔ).

  The result is a pure function of its arguments: BLAS runs single-threaded
  here whoever calls (CLI, worker process, predict, a test), because
  multi-threaded OpenBLAS rounds librosa's Δ filter coefficients (a least
  squares fit) differently and moved 1-ulp float32 values of Δ and ΔΔ.
  """
  with threadpoolctl.threadpool_limits(limits=1):
    return _logmel_deltas(y, sr, n_mels=n_mels, fmin=fmin, fmax=fmax,
                          win_ms=win_ms, hop_ms=hop_ms, n_fft=n_fft,
                          window=window, center=center, power=power, ref=ref,
                          amin=amin, top_db=top_db, delta_width=delta_width)


def _logmel_deltas(y, sr, *, n_mels, fmin, fmax, win_ms, hop_ms, n_fft,
                   window, center, power, ref, amin, top_db, delta_width):
  win_length = int(round(win_ms * 1e-3 * sr))
  hop_length = int(round(hop_ms * 1e-3 * sr))
  n_fft = next_pow2(win_length) if n_fft is None else int(n_fft)
  mel = librosa.feature.melspectrogram(
      y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
      window=window, center=center, pad_mode='constant', power=power,
      n_mels=n_mels, fmin=fmin, fmax=min(fmax, sr / 2), htk=False,
      norm='slaney')
  static = librosa.power_to_db(mel, ref=ref, amin=amin, top_db=top_db)
  mode = 'interp' if static.shape[1] >= delta_width else 'nearest'
  d1 = librosa.feature.delta(static, width=delta_width, order=1, mode=mode)
  d2 = librosa.feature.delta(static, width=delta_width, order=2, mode=mode)
  return np.stack([static, d1, d2], axis=-1).astype(np.float32)


def segment(feats: np.ndarray, frames: int, hop: int) -> np.ndarray:
  """Cuts [bands, n_frames, c] into [n_segments, bands, frames, c].

  Windows start at 0, hop, 2·hop, ... while they fit; a shorter input is
  padded into one window (static channel with its minimum, deltas with 0).
  """
  n_frames = feats.shape[1]
  if n_frames < frames:
    pad = np.zeros((feats.shape[0], frames - n_frames, feats.shape[2]),
                   feats.dtype)
    pad[..., 0] = feats[..., 0].min()
    return np.concatenate([feats, pad], axis=1)[None]
  starts = range(0, n_frames - frames + 1, hop)
  return np.stack([feats[:, s:s + frames] for s in starts]).astype(np.float32)


def logmel_params(**overrides: Any) -> dict[str, Any]:
  """The full keyword set of `logmel_segments` (defaults + overrides).

  Used as the exact, JSON-serialisable feature description stored with a
  FeatureSet and as the cache key.
  """
  sig = inspect.signature(logmel_segments)
  params = {k: p.default for k, p in sig.parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}
  unknown = set(overrides) - set(params)
  if unknown:
    raise TypeError(f'unknown log-mel parameters: {sorted(unknown)}')
  params.update(overrides)
  return params
