"""experiments.lib.normalize 'speaker' mode: each speaker standardised by itself."""
import numpy as np
import pytest

from experiments.lib import normalize

# Rows [n=4, H=1, W=2, C=1]: speaker a holds 0 and 2 (mean 1, std 1), speaker
# b holds 10, 10, 14, 14 (mean 12, std 2).
X = np.array([[[[0.], [2.]]], [[[10.], [10.]]], [[[2.], [0.]]],
              [[[14.], [14.]]]], np.float32)
SPEAKER = np.array(['a', 'b', 'a', 'b'])


def test_each_speaker_is_standardised_with_its_own_mean_and_std():
  stats = normalize.fit_normalizer(X, 'speaker', speaker=SPEAKER)
  z = normalize.apply_normalizer(stats, X, speaker=SPEAKER)
  expected = np.array([[-1, 1], [-1, -1], [1, -1], [1, 1]], np.float32)
  np.testing.assert_array_equal(z[:, 0, :, 0], expected)
  assert z.dtype == np.float32
  assert stats.speakers == ('a', 'b')
  np.testing.assert_array_equal(stats.mean.ravel(), [1, 12])
  np.testing.assert_array_equal(stats.std.ravel(), [1, 2])


def test_statistics_are_per_band_and_channel_pooled_over_frames():
  x = np.zeros((2, 2, 3, 2), np.float32)  # [n, H=2 bands, W=3 frames, C=2]
  x[:, 1, :, 0] = 5.0  # band 1, channel 0 is constant 5
  x[0, 0, :, 1], x[1, 0, :, 1] = 1.0, 3.0  # band 0, channel 1: mean 2, std 1
  stats = normalize.fit_normalizer(x, 'speaker', speaker=['s', 's'])
  assert stats.mean.shape == stats.std.shape == (1, 2, 1, 2)
  np.testing.assert_array_equal(stats.mean[0, :, 0], [[0, 2], [5, 0]])
  eps = np.float32(1e-6)  # the floor for constant features
  np.testing.assert_array_equal(stats.std[0, :, 0], [[eps, 1], [eps, eps]])


def test_utterance_feature_rows_are_standardised_per_speaker_and_feature():
  x = np.array([[1., 10.], [3., 30.], [5., 0.], [5., 4.]])  # [n, D=2]
  speaker = ['a', 'a', 'b', 'b']
  stats = normalize.fit_normalizer(x, 'speaker', speaker=speaker)
  z = normalize.apply_normalizer(stats, x, speaker=speaker)
  np.testing.assert_array_equal(z, [[-1, -1], [1, 1], [0, -1], [0, 1]])


def test_the_test_speakers_own_unlabelled_rows_give_its_statistics():
  """Transductive: `rows` (the training fold) does not limit the statistics,
  so a held-out speaker is standardised with statistics of its own rows."""
  train_rows = np.array([0, 2])  # speaker b is the test speaker
  fold = normalize.fit_normalizer(X, 'speaker', rows=train_rows,
                                  speaker=SPEAKER)
  every_row = normalize.fit_normalizer(X, 'speaker', speaker=SPEAKER)
  np.testing.assert_array_equal(fold.mean, every_row.mean)
  z_test = normalize.apply_normalizer(fold, X[[1, 3]], speaker=SPEAKER[[1, 3]])
  np.testing.assert_array_equal(z_test[:, 0, :, 0], [[-1, -1], [1, 1]])


def test_speaker_mode_needs_speakers_and_known_speakers():
  with pytest.raises(ValueError, match='needs every row'):
    normalize.fit_normalizer(X, 'speaker')
  stats = normalize.fit_normalizer(X, 'speaker', speaker=SPEAKER)
  with pytest.raises(ValueError, match='needs every row'):
    normalize.apply_normalizer(stats, X)
  with pytest.raises(ValueError, match=r"speaker\(s\) \['c'\]"):
    normalize.apply_normalizer(stats, X[:1], speaker=['c'])


@pytest.mark.parametrize('mode', ['pixel', 'band_channel', 'none'])
def test_fold_modes_ignore_the_speaker_column(mode):
  with_speaker = normalize.fit_normalizer(X, mode, speaker=SPEAKER)
  without = normalize.fit_normalizer(X, mode)
  np.testing.assert_array_equal(with_speaker.mean, without.mean)
  np.testing.assert_array_equal(
      normalize.apply_normalizer(with_speaker, X, speaker=SPEAKER),
      normalize.apply_normalizer(without, X))
