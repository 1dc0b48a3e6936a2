"""Cross-validation folds over segment rows.

Every honest protocol here keeps the segments of one utterance on one side of a
split; `leaky_segment_kfold` exists only to measure how much leaking inflates
scores. Functions take a FeatureSet or any object / mapping with `label`,
`utterance` and `speaker` columns, so they need nothing from data_prep.

A fold is `(train_rows, test_rows)`: sorted int64 row indices.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from sklearn import model_selection as ms

Fold = tuple[np.ndarray, np.ndarray]


def _column(data: Any, name: str) -> np.ndarray:
  value = data[name] if isinstance(data, dict) else getattr(data, name)
  return np.asarray(value)


def _folds(splitter, n: int, y=None, groups=None) -> list[Fold]:
  dummy = np.zeros(n)
  return [(np.sort(tr).astype(np.int64), np.sort(te).astype(np.int64))
          for tr, te in splitter.split(dummy, y, groups)]


def random_kfold(data: Any, n_splits: int = 5, seed: int = 0) -> list[Fold]:
  """The paper's random k-fold, stratified by emotion, grouped by utterance.

  Speakers may appear on both sides (speaker-dependent evaluation); an
  utterance's segments never do.
  """
  label, utterance = _column(data, 'label'), _column(data, 'utterance')
  splitter = ms.StratifiedGroupKFold(n_splits=n_splits, shuffle=True,
                                     random_state=seed)
  return _folds(splitter, label.size, label, utterance)


def speaker_kfold(data: Any, n_splits: int | None = None,
                  seed: int = 0) -> list[Fold]:
  """Speaker-independent folds: no speaker on both sides.

  Leave-one-speaker-out when `n_splits` is None or at least the number of
  speakers (one fold per speaker, in sorted speaker order); otherwise speakers
  are shuffled (by `seed`) into `n_splits` groups of similar size.
  """
  speaker = _column(data, 'speaker')
  n_speakers = np.unique(speaker).size
  if n_splits is None or n_splits >= n_speakers:
    return _folds(ms.LeaveOneGroupOut(), speaker.size, groups=speaker)
  splitter = ms.GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
  return _folds(splitter, speaker.size, groups=speaker)


def leaky_segment_kfold(data: Any, n_splits: int = 5,
                        seed: int = 0) -> list[Fold]:
  """DELIBERATELY LEAKY: segment-level stratified k-fold.

  Segments of one utterance (overlapping by 30 of 64 frames) land on both
  sides, so test scores are inflated. Only for measuring that inflation; never
  for reported results.
  """
  label = _column(data, 'label')
  splitter = ms.StratifiedKFold(n_splits=n_splits, shuffle=True,
                                random_state=seed)
  return _folds(splitter, label.size, label)


def validation_split(train_rows, utterance, label, fraction: float = 0.15,
                     seed: int = 0) -> Fold:
  """Holds out whole utterances of a training fold for validation.

  Stratified by the utterance's label when every class has at least two
  utterances and the validation set can hold one of each; plain random
  otherwise.

  Args:
    train_rows: [m] int row indices of the training fold.
    utterance: [n] int utterance index of every row (whole data set).
    label: [n] int label of every row.
    fraction: share of the fold's utterances to hold out.
    seed: shuffling seed.

  Returns:
    (fit_rows, val_rows): disjoint sorted int64 rows whose union is train_rows.
  """
  train_rows = np.asarray(train_rows, dtype=np.int64)
  utterance, label = np.asarray(utterance), np.asarray(label)
  utt_ids, first = np.unique(utterance[train_rows], return_index=True)
  utt_label = label[train_rows][first]
  if utt_ids.size < 2:
    raise ValueError('need at least two utterances to split off validation')
  n_val = min(max(1, int(round(fraction * utt_ids.size))), utt_ids.size - 1)
  _, counts = np.unique(utt_label, return_counts=True)
  stratify = (utt_label if counts.min() >= 2 and n_val >= counts.size
              and utt_ids.size - n_val >= counts.size else None)
  _, val_utts = ms.train_test_split(utt_ids, test_size=n_val, random_state=seed,
                                    stratify=stratify)
  is_val = np.isin(utterance[train_rows], val_utts)
  return np.sort(train_rows[~is_val]), np.sort(train_rows[is_val])


def speaker_validation_split(train_rows, speaker, fraction: float = 0.2,
                             seed: int = 0) -> Fold:
  """Holds out whole speakers of a training fold for validation, so a score
  on it measures generalisation to unseen speakers (which an utterance split
  of the training speakers does not).

  Args:
    train_rows: [m] int row indices of the training fold.
    speaker: [n] speaker id of every row (whole data set).
    fraction: share of the fold's speakers to hold out (at least one, and at
      least one left to train on).
    seed: shuffling seed.

  Returns:
    (fit_rows, val_rows): disjoint sorted int64 rows whose union is train_rows.
  """
  train_rows = np.asarray(train_rows, dtype=np.int64)
  fold_speakers = np.asarray(speaker)[train_rows]
  ids = np.unique(fold_speakers)
  if ids.size < 2:
    raise ValueError('need at least two training speakers to hold one out')
  n_val = min(max(1, int(round(fraction * ids.size))), ids.size - 1)
  val_ids = np.random.default_rng(seed).permutation(ids)[:n_val]
  is_val = np.isin(fold_speakers, val_ids)
  return np.sort(train_rows[~is_val]), np.sort(train_rows[is_val])


def subsample_utterances(train_rows, utterance, label, fraction: float,
                         seed: int = 0) -> np.ndarray:
  """The rows of a `fraction` of a training fold's utterances (learning curves).

  Whole utterances are kept or dropped, stratified by label where every class
  can keep one utterance (plain random otherwise), at least one utterance;
  fraction 1 returns train_rows unchanged. Test folds are never touched.

  Returns:
    sorted int64 rows, a subset of train_rows.
  """
  train_rows = np.asarray(train_rows, dtype=np.int64)
  if not 0 < fraction <= 1:
    raise ValueError(f'fraction must be in (0, 1], got {fraction}')
  if fraction == 1:
    return train_rows
  utterance, label = np.asarray(utterance), np.asarray(label)
  utt_ids, first = np.unique(utterance[train_rows], return_index=True)
  utt_label = label[train_rows][first]
  n_keep = max(1, int(round(fraction * utt_ids.size)))
  if n_keep >= utt_ids.size:
    return train_rows
  _, counts = np.unique(utt_label, return_counts=True)
  stratify = (utt_label if counts.min() >= 2 and n_keep >= counts.size
              and utt_ids.size - n_keep >= counts.size else None)
  kept, _ = ms.train_test_split(utt_ids, train_size=n_keep, random_state=seed,
                                stratify=stratify)
  return np.sort(train_rows[np.isin(utterance[train_rows], kept)])


PROTOCOLS: dict[str, Callable[..., list[Fold]]] = {
    'random_kfold': random_kfold,
    'speaker_kfold': speaker_kfold,
    'leaky_segment_kfold': leaky_segment_kfold,
}


def make_folds(protocol: str, data: Any, n_splits: int | None = None,
               seed: int = 0) -> list[Fold]:
  """Folds by protocol name.

  `n_splits=None` means each protocol's default: 5 for the k-folds,
  leave-one-speaker-out for 'speaker_kfold'.
  """
  if protocol not in PROTOCOLS:
    raise ValueError(f'unknown protocol {protocol!r}; valid: '
                     f'{", ".join(sorted(PROTOCOLS))}')
  kwargs = {'seed': seed}
  if n_splits is not None or protocol == 'speaker_kfold':
    kwargs['n_splits'] = n_splits
  return PROTOCOLS[protocol](data, **kwargs)
