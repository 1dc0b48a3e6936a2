"""Feature standardisation with statistics from training rows only.

Modes:
  'pixel': per-element mean/std over training rows, shape [H, W, C] (the
    issue's "standardised with training-fold statistics").
  'band_channel': per mel band and channel, pooled over rows and frames,
    shape [H, 1, C]; invariant to where in time a segment starts.
  'none': no change except the cast to float32 (e.g. already scaled inputs).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

MODES = ('pixel', 'band_channel', 'none')


class NormStats(NamedTuple):
  """Standardisation statistics; mean and std broadcast against [H, W, C]."""
  mode: str
  mean: np.ndarray
  std: np.ndarray


def fit_normalizer(x_train, mode: str = 'pixel', eps: float = 1e-6,
                   rows=None) -> NormStats:
  """Fits statistics on training rows.

  Args:
    x_train: [n, H, W, C] training rows (H = mel bands, W = frames), or the
      whole data set when `rows` picks the training rows.
    mode: one of MODES.
    eps: floor for std so constant features do not divide by zero.
    rows: optional [m] int indices of the training rows within `x_train`.

  Returns:
    NormStats with float32 mean/std of shape [H, W, C] ('pixel'),
    [H, 1, C] ('band_channel') or [] ('none').
  """
  if mode not in MODES:
    raise ValueError(f'unknown normaliser mode {mode!r}; valid: {MODES}')
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


def apply_normalizer(stats: NormStats, x) -> np.ndarray:
  """Standardises rows: [n, H, W, C] -> float32 [n, H, W, C]."""
  return ((np.asarray(x, dtype=np.float32) - stats.mean) / stats.std).astype(
      np.float32, copy=False)
