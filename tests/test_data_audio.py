"""data_prep.audio: loading any input, and the paper's log-mel segments."""
import librosa
import numpy as np
import pytest
import soundfile as sf
import threadpoolctl

from data_prep import audio
from data_prep import testing

SR = 16000


def direct_librosa(y, sr=SR):
  """The paper's features written out with librosa calls, no windowing."""
  mel = librosa.feature.melspectrogram(
      y=y, sr=sr, n_fft=512, hop_length=160, win_length=400, window='hamming',
      n_mels=64, fmin=20, fmax=8000, power=2.0)
  s = librosa.power_to_db(mel, ref=1.0)
  return (s, librosa.feature.delta(s, width=9),
          librosa.feature.delta(s, width=9, order=2))


def test_segments_equal_direct_librosa_computation():
  y = testing.tone(1.0, SR, freq=300.0, noise=0.05, seed=1)
  seg = audio.logmel_segments(y, SR)
  s, d1, d2 = direct_librosa(y)
  assert s.shape == (64, 101)  # 1 + 16000 // 160 frames
  assert seg.shape == (2, 64, 64, 3) and seg.dtype == np.float32
  for i, start in enumerate((0, 34)):  # hop 64 - 30 = 34 frames
    np.testing.assert_allclose(seg[i, ..., 0], s[:, start:start + 64],
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(seg[i, ..., 1], d1[:, start:start + 64],
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(seg[i, ..., 2], d2[:, start:start + 64],
                               rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('outer_threads', [1, 2])
def test_features_do_not_depend_on_the_callers_blas_threads(outer_threads):
  # Multi-threaded OpenBLAS once moved 1-ulp float32 values of Δ and ΔΔ:
  # features must be the same bits whoever calls, under any thread setting.
  y = testing.tone(2.0, SR, freq=220.0, noise=0.3, seed=4)
  with threadpoolctl.threadpool_limits(limits=1):
    reference = audio.logmel_segments(y, SR)
  with threadpoolctl.threadpool_limits(limits=outer_threads):
    np.testing.assert_array_equal(audio.logmel_segments(y, SR), reference)
  np.testing.assert_array_equal(audio.logmel_segments(y, SR), reference)


def test_paper_parameters_are_the_defaults():
  p = audio.logmel_params()
  assert (p['n_mels'], p['fmin'], p['fmax'], p['win_ms'], p['hop_ms'],
          p['window'], p['delta_width'], p['segment_frames'],
          p['segment_overlap']) == (64, 20.0, 8000.0, 25.0, 10.0, 'hamming',
                                    9, 64, 30)
  assert audio.next_pow2(400) == 512 and audio.next_pow2(512) == 512
  with pytest.raises(TypeError, match='n_mel'):
    audio.logmel_params(n_mel=40)


def test_window_parameter_reaches_librosa():
  y = testing.tone(0.7, SR, seed=2)
  hamming = audio.logmel_segments(y, SR)
  hann = audio.logmel_segments(y, SR, window='hann')
  assert np.abs(hamming - hann).max() > 0.1


@pytest.mark.parametrize('seconds, n_segments', [
    (0.30, 1),   # 31 frames: padded into one segment
    (0.64, 1),   # 65 frames: one full window
    (0.97, 2),   # 98 frames: windows at 0 and 34
    (1.30, 2),   # 131 frames: 0, 34 (68 + 64 > 131: partial dropped)
    (1.31, 3),   # 132 frames: 0, 34, 68
    (2.00, 5),   # 201 frames: 0, 34, 68, 102, 136
])
def test_segment_count(seconds, n_segments):
  seg = audio.logmel_segments(testing.tone(seconds, SR), SR)
  assert seg.shape == (n_segments, 64, 64, 3)


def test_deltas_use_whole_utterance_context():
  # Segment 1's first frame has neighbours in segment 0: its Δ must equal
  # the whole-utterance Δ, not a Δ recomputed inside the window.
  y = testing.tone(1.0, SR, freq=150, noise=0.2, seed=3)
  seg = audio.logmel_segments(y, SR)
  _, d1, _ = direct_librosa(y)
  windowed = librosa.feature.delta(seg[1, ..., 0], width=9)
  np.testing.assert_allclose(seg[1, :, 0, 1], d1[:, 34], rtol=1e-5, atol=1e-4)
  assert np.abs(windowed[:, 0] - d1[:, 34]).max() > 1e-2


@pytest.mark.filterwarnings('ignore:n_fft=512 is too large')
@pytest.mark.parametrize('n_samples', [1, 400, 800, 1279])
def test_utterance_shorter_than_delta_width(n_samples):
  # 1..8 frames < width 9: librosa's default mode would raise.
  y = testing.tone(n_samples / SR, SR, seed=4)
  n_frames = 1 + n_samples // 160
  assert n_frames < 9
  seg = audio.logmel_segments(y, SR)
  assert seg.shape == (1, 64, 64, 3) and np.isfinite(seg).all()
  mel = librosa.feature.melspectrogram(
      y=y, sr=SR, n_fft=512, hop_length=160, win_length=400, window='hamming',
      n_mels=64, fmin=20, fmax=8000)
  s = librosa.power_to_db(mel, ref=1.0)
  np.testing.assert_allclose(seg[0, :, :n_frames, 0], s, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(
      seg[0, :, :n_frames, 1],
      librosa.feature.delta(s, width=9, mode='nearest'), atol=1e-4)
  # Padding: the utterance's silence floor, zero deltas.
  np.testing.assert_array_equal(seg[0, :, n_frames:, 0], s.min())
  np.testing.assert_array_equal(seg[0, :, n_frames:, 1:], 0.0)


def test_silence_gives_finite_features():
  seg = audio.logmel_segments(np.zeros(SR, np.float32), SR)
  assert seg.shape == (2, 64, 64, 3)
  assert np.isfinite(seg).all()
  np.testing.assert_allclose(seg[..., 0], -100.0)  # amin 1e-10 → -100 dB
  np.testing.assert_allclose(seg[..., 1:], 0.0, atol=1e-4)


def test_empty_waveform_raises():
  with pytest.raises(audio.AudioError, match='non-empty'):
    audio.logmel_segments(np.zeros(0, np.float32), SR)


@pytest.mark.parametrize('fmt, ext', [('WAV', 'wav'), ('FLAC', 'flac'),
                                      ('OGG', 'ogg')])
def test_load_formats(tmp_path, fmt, ext):
  y = testing.tone(0.25, SR, freq=440)
  path = testing.write_wav(tmp_path / f'x.{ext}', y, SR, format=fmt)
  z = audio.load_audio(path, SR)
  assert z.dtype == np.float32 and z.shape == y.shape
  tol = 0.05 if fmt == 'OGG' else 1e-4  # Vorbis is lossy
  assert np.abs(z - y).max() < tol


def test_load_stereo_averages_channels(tmp_path):
  y = testing.tone(0.25, SR, freq=440)
  path = testing.write_wav(tmp_path / 'st.wav', np.stack([y, -0.5 * y], 1),
                           SR, subtype='FLOAT')
  np.testing.assert_allclose(audio.load_audio(path, SR), 0.25 * y, atol=1e-6)


@pytest.mark.parametrize('native_sr', [8000, 22050, 44100, 48000])
def test_load_resamples(tmp_path, native_sr):
  path = testing.write_wav(tmp_path / 'x.wav',
                           testing.tone(0.5, native_sr, 440, noise=0), native_sr)
  z = audio.load_audio(path, SR)
  assert z.shape == (SR // 2,)
  spectrum = np.abs(np.fft.rfft(z))
  assert abs(np.argmax(spectrum) * SR / len(z) - 440) <= 2
  # Same sound → same features whatever the file's rate (8 kHz lacks > 4 kHz).
  ref = audio.logmel_segments(testing.tone(0.5, SR, 440, noise=0), SR)
  got = audio.logmel_segments(z, SR)
  low = slice(0, 40)  # mel bands below ~2.6 kHz
  peak = ref[0, low, 10:40, 0].mean(1).argmax()
  assert got[0, low, 10:40, 0].mean(1).argmax() == peak


def test_load_avi_audio_track(tmp_path):
  # eNTERFACE-like: MJPEG + 16-bit PCM in an avi, stereo, 48 kHz.
  y = testing.tone(0.4, 48000, 440, noise=0)
  frames = [np.zeros((48, 64, 3), np.uint8)] * 4
  path = testing.write_av(tmp_path / 'x.avi', frames,
                          np.stack([y, 0.5 * y], 1), sr=48000)
  z = audio.load_audio(path, 48000)
  np.testing.assert_allclose(z, 0.75 * y, atol=1e-4)
  assert audio.load_audio(path, SR).shape == (int(0.4 * SR),)


def test_load_mp4_audio_track(tmp_path):
  # RAVDESS-like: MPEG-4 + AAC (the encoder adds priming samples).
  y = testing.tone(0.5, SR, 440, noise=0)
  path = testing.write_av(tmp_path / 'x.mp4',
                          [np.zeros((48, 64, 3), np.uint8)] * 5, y, sr=SR)
  z = audio.load_audio(path, SR)
  assert abs(len(z) - len(y)) <= 2048
  spectrum = np.abs(np.fft.rfft(z))
  assert abs(np.argmax(spectrum) * SR / len(z) - 440) <= 3


def test_video_without_audio_raises(tmp_path):
  path = testing.write_av(tmp_path / 'mute.mp4',
                          [np.zeros((48, 64, 3), np.uint8)] * 3, None)
  with pytest.raises(audio.AudioError, match='mute.mp4.*no audio stream'):
    audio.load_audio(path)


@pytest.mark.parametrize('name', ['bad.wav', 'bad.flac', 'bad.avi'])
def test_corrupt_file_raises_naming_it(tmp_path, name):
  path = tmp_path / name
  path.write_bytes(np.random.default_rng(0).bytes(3000))
  with pytest.raises(audio.AudioError, match=name):
    audio.load_audio(path)


def test_empty_and_missing_files_raise_naming_them(tmp_path):
  (tmp_path / 'empty.wav').write_bytes(b'')
  with pytest.raises(audio.AudioError, match='empty.wav.*empty'):
    audio.load_audio(tmp_path / 'empty.wav')
  with pytest.raises(audio.AudioError, match='gone.wav.*no such file'):
    audio.load_audio(tmp_path / 'gone.wav')
  # A valid header with zero samples.
  sf.write(tmp_path / 'nosamples.wav', np.zeros(0, np.float32), SR)
  with pytest.raises(audio.AudioError, match='nosamples.wav.*no audio'):
    audio.load_audio(tmp_path / 'nosamples.wav')
