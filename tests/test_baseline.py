"""Tests for the trivial utterance-statistics baseline."""

import numpy as np
import pytest

from data_prep.store import FeatureSet
from experiments import baseline
from experiments import splits


def _tiny_fs(separation, seed=0, n_speakers=6, n_classes=4, utts=3, segs=2):
  """Random segments [n, 8, 6, 3] whose mean depends on class x separation."""
  rng = np.random.default_rng(seed)
  rows = [(s, c) for s in range(n_speakers) for c in range(n_classes)
          for _ in range(utts)]
  spk, lab = (np.repeat(np.array(v), segs) for v in zip(*rows))
  bands = np.arange(8)[None, :, None, None]
  # Each class raises a different band: separable only through band means.
  x = rng.normal(size=(lab.size, 8, 6, 3)) + separation * (bands == 2 * lab[
      :, None, None, None])
  n = lab.size
  return FeatureSet(
      x=x.astype(np.float32), label=lab.astype(np.int32),
      utterance=np.repeat(np.arange(n // segs), segs).astype(np.int32),
      speaker=np.array([f's{i}' for i in spk]), corpus=np.full(n, 'tiny'),
      sex=np.full(n, ''), class_names=tuple(f'c{i}' for i in range(n_classes)),
      utterance_ids=tuple(f'u{i}' for i in range(n // segs)))


def test_utterance_features_pool_all_frames_of_an_utterance():
  fs = _tiny_fs(1.0)
  ids, feats = baseline.utterance_features(fs.x, fs.utterance)
  assert feats.shape == (ids.size, 8 * 3 * 2)
  frames = fs.x[fs.utterance == ids[5]]  # [segs, H, W, C]
  pooled = frames.transpose(1, 3, 0, 2).reshape(8, 3, -1)  # [H, C, frames]
  np.testing.assert_allclose(feats[5, :24], pooled.mean(-1).ravel(), rtol=1e-5)
  np.testing.assert_allclose(feats[5, 24:], pooled.std(-1).ravel(), rtol=1e-4)


def test_baseline_beats_chance_on_separable_corpus():
  fs = _tiny_fs(separation=3.0)
  result = baseline.run_baseline(fs, splits.random_kfold(fs, n_splits=3))
  assert len(result['per_fold']) == 3
  assert result['aggregate']['ua_mean'] > 0.9  # chance = 0.25
  assert sum(f['n'] for f in result['per_fold']) == 6 * 4 * 3  # utterances


def test_baseline_is_near_chance_without_signal():
  fs = _tiny_fs(separation=0.0)
  result = baseline.run_baseline(fs, splits.speaker_kfold(fs))
  assert len(result['per_fold']) == 6
  assert result['aggregate']['ua_mean'] < 0.6


def test_baseline_rejects_leaky_folds():
  fs = _tiny_fs(1.0)
  with pytest.raises(ValueError, match='both sides'):
    baseline.run_baseline(fs, splits.leaky_segment_kfold(fs, n_splits=3))
