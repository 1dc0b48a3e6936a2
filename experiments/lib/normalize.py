"""Feature standardisation.

Modes:
  'pixel': per-element mean/std over training rows, shape [H, W, C] (the
    issue's "standardised with training-fold statistics").
  'band_channel': per mel band and channel, pooled over training rows and
    frames, shape [H, 1, C]; invariant to where in time a segment starts.
  'speaker': per speaker, per mel band and channel: each speaker's rows are
    standardised with the mean/std of *all* that speaker's rows (pooled over
    frames), labels unused. This is TRANSDUCTIVE for a test speaker: its own
    unlabelled test segments give its statistics (common practice in
    speaker-independent emotion recognition; say so wherever it is used).
    The statistics do not depend on the fold, so pass the whole data set and
    every row's speaker. On [n, D] rows (e.g. utterance functionals) it is
    per speaker and feature.
  'none': no change except the cast to float32 (e.g. already scaled inputs).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

MODES = ('pixel', 'band_channel', 'speaker', 'none')


class NormStats(NamedTuple):
  """Standardisation statistics.

  mean and std broadcast against one row [H, W, C]; in 'speaker' mode they
  are stacked per speaker ([S, H, 1, C], or [S, D] for [n, D] rows) in the
  order of `speakers`.
  """
  mode: str
  mean: np.ndarray
  std: np.ndarray
  speakers: tuple[str, ...] = ()


def fit_normalizer(x_train, mode: str = 'pixel', eps: float = 1e-6,
                   rows=None, speaker=None) -> NormStats:
  """Fits statistics on training rows (every row of a speaker in 'speaker').

  Args:
    x_train: [n, H, W, C] training rows (H = mel bands, W = frames), or the
      whole data set when `rows` picks the training rows.
    mode: one of MODES.
    eps: floor for std so constant features do not divide by zero.
    rows: optional [m] int indices of the training rows within `x_train`;
      ignored in 'speaker' mode, whose statistics come from every row.
    speaker: [n] speaker of every row of `x_train`; required in 'speaker'
      mode, ignored otherwise.

  Returns:
    NormStats with float32 mean/std of shape [H, W, C] ('pixel'),
    [H, 1, C] ('band_channel'), [S, H, 1, C] ('speaker') or [] ('none').
  """
  if mode not in MODES:
    raise ValueError(f'unknown normaliser mode {mode!r}; valid: {MODES}')
  if mode == 'speaker':
    return _fit_per_speaker(x_train, speaker, eps)
  if mode == 'none':
    return NormStats(mode, np.zeros((), np.float32), np.ones((), np.float32))
  if rows is not None:
    x_train = np.asarray(x_train)[np.asarray(rows)]
  axes = (0,) if mode == 'pixel' else (0, 2)
  # float64 accumulation: a few thousand 64x64x3 rows in float32 lose digits.
  mean = np.mean(x_train, axis=axes, dtype=np.float64, keepdims=True)[0]
  std = np.std(x_train, axis=axes, dtype=np.float64, keepdims=True)[0]
  return NormStats(mode, mean.astype(np.float32),
                   np.maximum(std, eps).astype(np.float32))


def _fit_per_speaker(x, speaker, eps: float) -> NormStats:
  """Per-speaker mean/std over rows (and frames of [n, H, W, C] rows)."""
  if speaker is None:
    raise ValueError("normaliser mode 'speaker' needs every row's speaker")
  x, speaker = np.asarray(x), np.asarray(speaker).astype(str)
  if speaker.shape != x.shape[:1]:
    raise ValueError(f'{speaker.shape[0]} speakers for {x.shape[0]} rows')
  axes = (0, 2) if x.ndim == 4 else (0,)
  names = np.unique(speaker)
  # float64 accumulation, as in the other modes.
  mean = np.stack([np.mean(x[speaker == s], axis=axes, dtype=np.float64,
                           keepdims=True)[0] for s in names])
  std = np.stack([np.std(x[speaker == s], axis=axes, dtype=np.float64,
                         keepdims=True)[0] for s in names])
  return NormStats('speaker', mean.astype(np.float32),
                   np.maximum(std, eps).astype(np.float32),
                   tuple(names.tolist()))


def apply_normalizer(stats: NormStats, x, speaker=None) -> np.ndarray:
  """Standardises rows: [n, H, W, C] -> float32 [n, H, W, C].

  `speaker` ([n], each row's speaker) is required in 'speaker' mode, where
  a speaker the statistics have not seen is an error naming it.
  """
  x = np.asarray(x, dtype=np.float32)
  mean, std = stats.mean, stats.std
  if stats.mode == 'speaker':
    if speaker is None:
      raise ValueError("normaliser mode 'speaker' needs every row's speaker")
    speaker = np.asarray(speaker).astype(str)
    unseen = sorted(set(speaker.tolist()) - set(stats.speakers))
    if unseen:
      raise ValueError(f'no statistics for speaker(s) {unseen}')
    index = np.searchsorted(np.asarray(stats.speakers), speaker)
    mean, std = mean[index], std[index]
  return ((x - mean) / std).astype(np.float32, copy=False)
