"""Tests for pathnet_jax.metrics against hand-computed values."""
import json

import numpy as np
import pytest

from pathnet_jax import metrics


def test_segment_scores_match_hand_computed_confusion_and_recall():
  y_true = [0, 0, 0, 1, 1, 2]
  y_pred = [0, 0, 1, 1, 2, 2]
  s = metrics.segment_scores(y_true, y_pred, num_classes=3)
  np.testing.assert_array_equal(s['confusion'],
                                [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
  np.testing.assert_allclose(s['per_class_recall'], [2 / 3, 1 / 2, 1.0])
  assert s['wa'] == pytest.approx(4 / 6)
  assert s['ua'] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
  assert s['n'] == 6


def test_class_absent_from_truth_is_nan_and_left_out_of_ua():
  # Class 2 is predicted once but never true; class 3 never appears at all.
  s = metrics.segment_scores([0, 0, 1], [0, 2, 1], num_classes=4)
  assert s['confusion'].shape == (4, 4)
  np.testing.assert_allclose(s['per_class_recall'], [0.5, 1.0, np.nan, np.nan])
  assert s['ua'] == pytest.approx(0.75)
  assert s['wa'] == pytest.approx(2 / 3)


def test_utterance_log_probs_are_mean_of_segments():
  lp = np.log([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
  utt = np.array([7, 7, 3, 3, 3])
  ids, mean_lp = metrics.utterance_log_probs(lp, utt)
  np.testing.assert_array_equal(ids, [3, 7])
  np.testing.assert_allclose(mean_lp[0], lp[2:].mean(axis=0))
  np.testing.assert_allclose(mean_lp[1], lp[:2].mean(axis=0))


def test_utterance_scores_vote_by_mean_log_prob():
  # Utterance 0: segment probabilities 0.9/0.1 and 0.2/0.8 -> mean log-prob
  # favours class 0 (log .9 + log .2 > log .1 + log .8); a majority of argmaxes
  # would tie. Utterance 1 is class 1, predicted 1.
  lp = np.log([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]])
  s = metrics.utterance_scores(lp, [0, 0, 1], [0, 0, 1], num_classes=2)
  np.testing.assert_array_equal(s['confusion'], [[1, 0], [0, 1]])
  assert s['n'] == 2


def test_utterance_scores_reject_inconsistent_labels():
  with pytest.raises(ValueError, match='different labels'):
    metrics.utterance_scores(np.zeros((2, 2)), [0, 1], [5, 5], num_classes=2)


def test_aggregate_folds_mean_std_and_nan_recall():
  f1 = metrics.segment_scores([0, 1], [0, 1], 3)  # class 2 absent
  f2 = metrics.segment_scores([0, 1, 2, 2], [1, 1, 2, 0], 3)
  agg = metrics.aggregate_folds([f1, f2])
  assert agg['wa_mean'] == pytest.approx((1.0 + 0.5) / 2)
  assert agg['wa_std'] == pytest.approx(0.25)
  assert agg['ua_mean'] == pytest.approx((1.0 + 0.5) / 2)
  np.testing.assert_allclose(agg['per_class_recall_mean'], [0.5, 1.0, 0.5])
  assert agg['confusion'].sum() == 6
  json.dumps(metrics.jsonable(agg))  # NaN-free, numpy-free


def test_aggregate_folds_reads_missing_recall_back_from_json():
  f1 = metrics.segment_scores([0, 1], [0, 1], 3)  # class 2 absent: null
  f2 = metrics.segment_scores([0, 1, 2, 2], [1, 1, 2, 0], 3)
  in_memory = metrics.aggregate_folds([f1, f2])
  as_read = [json.loads(json.dumps(metrics.jsonable(f))) for f in (f1, f2)]
  assert as_read[0]['per_class_recall'][2] is None
  from_json = metrics.aggregate_folds(as_read)
  np.testing.assert_array_equal(from_json['per_class_recall_mean'],
                                in_memory['per_class_recall_mean'])
  restored = metrics.scores_from_json(as_read[0])
  assert np.isnan(restored['per_class_recall'][2])
  np.testing.assert_array_equal(restored['confusion'], f1['confusion'])


def test_class_absent_from_every_fold_stays_missing():
  f = metrics.segment_scores([0, 1], [0, 0], 3)
  agg = metrics.aggregate_folds([f, f])
  np.testing.assert_array_equal(agg['per_class_recall_mean'][:2], [1.0, 0.0])
  assert np.isnan(agg['per_class_recall_mean'][2])
  assert metrics.jsonable(agg)['per_class_recall_mean'][2] is None


# Figures of the scores (experiments.lib.plots).


def test_plots_write_images_and_row_normalise(tmp_path):
  from experiments.lib import plots  # pylint: disable=g-import-not-at-top
  np.testing.assert_allclose(plots.row_normalise([[1, 3], [0, 0]]),
                             [[0.25, 0.75], [0, 0]])
  conf = tmp_path / 'sub' / 'confusion.png'
  plots.plot_confusion([[5, 1], [2, 2]], ['anger', 'sadness'], str(conf), 't')
  fit = tmp_path / 'fitness.png'
  plots.plot_fitness({'source': {'best': [0.2, 0.5], 'mean': [0.1, 0.3]},
                      'target': {'best': [0.4, 0.6], 'mean': [0.3, 0.4]}},
                     str(fit))
  for p in (conf, fit):
    assert p.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
