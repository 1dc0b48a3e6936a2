"""Scores for emotion recognition: WA, UA, per-class recall and confusion.

WA (weighted accuracy) is plain accuracy; UA (unweighted accuracy) is the mean
of per-class recalls over the classes present in `y_true` (scikit-learn's
balanced accuracy). Utterance-level scores average segment log-probabilities
over the segments of each utterance before taking the argmax.

Pure numpy / scikit-learn: no JAX and no data_prep import, so the same code
scores PathNet, the CNN baseline and the trivial baseline.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
from sklearn import metrics as skm


def segment_scores(y_true, y_pred, num_classes: int) -> dict[str, Any]:
  """Scores one set of predictions.

  Args:
    y_true: [n] int true labels in [0, num_classes).
    y_pred: [n] int predicted labels in [0, num_classes).
    num_classes: C, the size of the label space (classes may be absent).

  Returns:
    dict with 'wa' (float), 'ua' (float), 'per_class_recall' ([C] float,
    NaN for classes absent from `y_true`), 'confusion' ([C, C] int, rows = true
    class, columns = predicted class) and 'n' (number of items).
  """
  y_true = np.asarray(y_true, dtype=np.int64)
  y_pred = np.asarray(y_pred, dtype=np.int64)
  if y_true.shape != y_pred.shape or y_true.ndim != 1:
    raise ValueError(f'y_true {y_true.shape} and y_pred {y_pred.shape} must be '
                     'equal-length 1-D arrays')
  if y_true.size == 0:
    raise ValueError('cannot score an empty set of predictions')
  labels = np.arange(num_classes)
  with warnings.catch_warnings():
    # Classes predicted but absent from y_true are fine here: they are left out
    # of UA and their recall is NaN.
    warnings.simplefilter('ignore')
    ua = skm.balanced_accuracy_score(y_true, y_pred)
    recall = skm.recall_score(y_true, y_pred, labels=labels, average=None,
                              zero_division=np.nan)
  return {
      'wa': float(skm.accuracy_score(y_true, y_pred)),
      'ua': float(ua),
      'per_class_recall': np.asarray(recall, dtype=np.float64),
      'confusion': skm.confusion_matrix(y_true, y_pred, labels=labels),
      'n': int(y_true.size),
  }


def utterance_log_probs(log_probs, utterance) -> tuple[np.ndarray, np.ndarray]:
  """Mean segment log-probability per utterance.

  Args:
    log_probs: [n, C] segment log-probabilities.
    utterance: [n] int utterance index of each segment.

  Returns:
    (utt_ids [u] sorted unique utterance indices, mean_log_probs [u, C]).
  """
  log_probs = np.asarray(log_probs, dtype=np.float64)
  utt_ids, inverse, counts = np.unique(np.asarray(utterance), return_inverse=True,
                                       return_counts=True)
  sums = np.zeros((utt_ids.size, log_probs.shape[1]))
  np.add.at(sums, inverse, log_probs)
  return utt_ids, sums / counts[:, None]


def utterance_labels(y_true_segments, utterance) -> tuple[np.ndarray, np.ndarray]:
  """One label per utterance, checking its segments agree.

  Args:
    y_true_segments: [n] int segment labels.
    utterance: [n] int utterance index of each segment.

  Returns:
    (utt_ids [u] sorted unique utterance indices, labels [u]).
  """
  y = np.asarray(y_true_segments)
  utt_ids, first, inverse = np.unique(np.asarray(utterance), return_index=True,
                                      return_inverse=True)
  labels = y[first]
  if np.any(labels[inverse] != y):
    raise ValueError('segments of one utterance carry different labels')
  return utt_ids, labels


def utterance_scores(log_probs, y_true_segments, utterance,
                     num_classes: int) -> dict[str, Any]:
  """`segment_scores` at utterance level (argmax of mean log-probabilities).

  Args:
    log_probs: [n, C] segment log-probabilities.
    y_true_segments: [n] int segment labels (equal within an utterance).
    utterance: [n] int utterance index of each segment.
    num_classes: C.

  Returns:
    the `segment_scores` dict, with one item per utterance.
  """
  _, mean_lp = utterance_log_probs(log_probs, utterance)
  _, y_true = utterance_labels(y_true_segments, utterance)
  return segment_scores(y_true, mean_lp.argmax(axis=1), num_classes)


def aggregate_folds(scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
  """Mean and standard deviation (ddof=0) of fold scores.

  Args:
    scores: one `segment_scores` / `utterance_scores` dict per fold.

  Returns:
    dict with 'wa_mean', 'wa_std', 'ua_mean', 'ua_std', 'per_class_recall_mean'
    ([C], NaN-ignoring: a class absent from a fold's test set is skipped there),
    'confusion' ([C, C] summed over folds) and 'n_folds'.
  """
  if not scores:
    raise ValueError('no fold scores to aggregate')
  out: dict[str, Any] = {'n_folds': len(scores)}
  for name in ('wa', 'ua'):
    values = np.array([s[name] for s in scores], dtype=np.float64)
    out[f'{name}_mean'] = float(values.mean())
    out[f'{name}_std'] = float(values.std())
  recalls = np.stack([missing_as_nan(s['per_class_recall']) for s in scores])
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', RuntimeWarning)  # all-NaN column -> NaN
    out['per_class_recall_mean'] = np.nanmean(recalls, axis=0)
  out['confusion'] = np.sum([s['confusion'] for s in scores], axis=0)
  return out


def missing_as_nan(values) -> np.ndarray:
  """float64 array with NaN where `values` (e.g. read back from JSON) is None.

  A class absent from a fold's test set has no recall: NaN in memory, null in
  JSON; both forms must aggregate the same way.
  """
  return np.array(values, dtype=np.float64)


def scores_from_json(scores: dict[str, Any]) -> dict[str, Any]:
  """A `segment_scores` dict as read back from JSON, in its in-memory form."""
  return {**scores,
          'per_class_recall': missing_as_nan(scores['per_class_recall']),
          'confusion': np.asarray(scores['confusion'], dtype=np.int64)}


def jsonable(obj: Any) -> Any:
  """Converts score dicts (numpy arrays, numpy scalars, NaN) for `json.dump`.

  NaN and infinities become None, since strict JSON has no NaN.
  """
  if isinstance(obj, dict):
    return {str(k): jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [jsonable(v) for v in obj]
  if isinstance(obj, np.ndarray):
    return jsonable(obj.tolist())
  if isinstance(obj, np.generic):
    return jsonable(obj.item())
  if isinstance(obj, float) and not math.isfinite(obj):
    return None
  return obj
