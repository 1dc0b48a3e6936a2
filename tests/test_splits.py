"""Tests for experiments.lib.splits: no utterance or speaker straddles a split."""
import numpy as np
import pytest

from experiments.lib import normalize, splits


def _columns(n_speakers=6, n_classes=4, utts_per_class=3, segs=2):
  """Columns of a corpus: speaker x class x utterance x segment rows."""
  rows = [(s, c, u) for s in range(n_speakers) for c in range(n_classes)
          for u in range(utts_per_class) for _ in range(segs)]
  spk, lab, _ = map(np.array, zip(*rows))
  return {'label': lab.astype(np.int32),
          'utterance': np.repeat(np.arange(len(rows) // segs), segs),
          'speaker': np.array([f'spk{s}' for s in spk])}


@pytest.mark.parametrize('protocol', ['random_kfold', 'speaker_kfold'])
def test_no_utterance_on_both_sides(protocol):
  data = _columns()
  for train, test in splits.make_folds(protocol, data, seed=1):
    assert not set(data['utterance'][train]) & set(data['utterance'][test])


def test_speaker_kfold_separates_speakers_and_loso_has_fold_per_speaker():
  data = _columns()
  loso = splits.speaker_kfold(data)
  assert len(loso) == 6
  assert [set(data['speaker'][te]) for _, te in loso] == [
      {f'spk{i}'} for i in range(6)]
  grouped = splits.speaker_kfold(data, n_splits=3, seed=0)
  assert len(grouped) == 3
  for train, test in grouped:
    assert not set(data['speaker'][train]) & set(data['speaker'][test])
    assert len(set(data['speaker'][test])) == 2


@pytest.mark.parametrize('protocol', sorted(splits.PROTOCOLS))
def test_every_row_is_tested_exactly_once(protocol):
  data = _columns()
  folds = splits.make_folds(protocol, data, seed=0)
  tested = np.concatenate([te for _, te in folds])
  np.testing.assert_array_equal(np.sort(tested), np.arange(data['label'].size))
  for train, test in folds:
    assert train.dtype == np.int64 and np.intersect1d(train, test).size == 0
    assert train.size + test.size == data['label'].size


def test_random_kfold_is_stratified():
  data = _columns()
  for _, test in splits.random_kfold(data, n_splits=3, seed=0):
    counts = np.bincount(data['label'][test], minlength=4)
    assert counts.max() - counts.min() <= 2  # 2 = one utterance's segments


def test_leaky_split_puts_an_utterance_on_both_sides():
  data = _columns()
  straddling = [set(data['utterance'][tr]) & set(data['utterance'][te])
                for tr, te in splits.leaky_segment_kfold(data, seed=0)]
  assert any(straddling)


def test_validation_split_is_utterance_grouped_and_disjoint():
  data = _columns()
  train, _ = splits.random_kfold(data, seed=0)[0]
  fit, val = splits.validation_split(train, data['utterance'], data['label'],
                                     fraction=0.25, seed=0)
  assert np.intersect1d(fit, val).size == 0
  np.testing.assert_array_equal(np.union1d(fit, val), train)
  assert not set(data['utterance'][fit]) & set(data['utterance'][val])
  # Stratified: every class is in validation.
  assert set(data['label'][val]) == {0, 1, 2, 3}


def test_make_folds_rejects_unknown_protocol():
  with pytest.raises(ValueError, match='leaky_segment_kfold.*random_kfold'):
    splits.make_folds('loso', _columns())


# Normalisation is part of an honest split: statistics from training rows only.


@pytest.mark.parametrize('mode', ['pixel', 'band_channel'])
def test_normalizer_ignores_test_rows(mode):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(10, 4, 5, 3)).astype(np.float32)
  train = np.arange(6)
  before = normalize.fit_normalizer(x, mode, rows=train)
  x[6:] += 100.0  # only test rows change
  after = normalize.fit_normalizer(x, mode, rows=train)
  np.testing.assert_array_equal(before.mean, after.mean)
  np.testing.assert_array_equal(before.std, after.std)
  z = normalize.apply_normalizer(before, x[train])
  assert z.dtype == np.float32
  axes = (0,) if mode == 'pixel' else (0, 2)
  np.testing.assert_allclose(z.mean(axis=axes), 0, atol=1e-5)
  np.testing.assert_allclose(z.std(axis=axes), 1, atol=1e-4)


def test_band_channel_stats_shape_and_constant_guard():
  x = np.zeros((5, 4, 7, 3), np.float32)
  x[..., 0] = np.arange(4)[:, None]  # per-band constant
  stats = normalize.fit_normalizer(x, 'band_channel')
  assert stats.mean.shape == stats.std.shape == (4, 1, 3)
  np.testing.assert_allclose(stats.mean[:, 0, 0], np.arange(4))
  assert np.all(np.isfinite(normalize.apply_normalizer(stats, x)))


def test_speaker_validation_split_holds_out_whole_training_speakers():
  data = _columns(n_speakers=6)
  train = np.flatnonzero(data['speaker'] != 'spk0')  # 5 training speakers
  fit, val = splits.speaker_validation_split(train, data['speaker'], 0.4,
                                             seed=3)
  assert np.array_equal(np.sort(np.concatenate([fit, val])), train)
  fit_spk, val_spk = set(data['speaker'][fit]), set(data['speaker'][val])
  assert len(val_spk) == 2 and not fit_spk & val_spk
  assert 'spk0' not in fit_spk | val_spk
  again = splits.speaker_validation_split(train, data['speaker'], 0.4, seed=3)
  assert np.array_equal(again[1], val)


def test_speaker_validation_split_keeps_a_speaker_on_each_side():
  data = _columns(n_speakers=2)
  rows = np.arange(len(data['speaker']))
  fit, val = splits.speaker_validation_split(rows, data['speaker'], 0.9)
  assert len(set(data['speaker'][fit])) == 1
  assert len(set(data['speaker'][val])) == 1
  with pytest.raises(ValueError, match='two training speakers'):
    splits.speaker_validation_split(fit, data['speaker'])
