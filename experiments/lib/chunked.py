"""A corpus's segments when they do not fit in memory (issue 34).

Today's path copies a fold's [n, 64, 64, 3] segment rows into memory,
normalises them and hands them to pathnet_jax, which takes layer 1's view.
When a corpus's segments are larger than `config.data_memory_gb`, this
path reads them a block of rows at a time (from a memory-mapped store, by positioned
reads that do not grow the process's resident set: featureset.read_rows),
fits the normaliser from running float64 sums, and makes layer 1's pooled
view (model.input_view: 384 values per segment for 'time_pooled', not
12,288) block by block. Only the view's rows are ever held whole; pathnet_jax
takes flat rows as a view already taken. The 'segment' view does not shrink,
so it has no such path: an error says so.

Not bit-identical to the in-memory path (sums in another order, the view
taken in NumPy on blocks); equal to float32 rounding, which a test checks.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from data_prep import featureset
from experiments.lib import normalize
from pathnet_jax import model as model_lib

BLOCK_ROWS = 2048  # ~100 MB of float32 64x64x3 segments per read


def rows_gb(x) -> float:
  """GB that the rows of x [n, ...] take in memory as float32."""
  return len(x) * math.prod(x.shape[1:]) * 4 / 1e9


def needed(x, max_gb: float | None) -> bool:
  """Whether the segments x [n, H, W, C] are read block by block: they are
  over `max_gb` (None or <= 0: never). Decided on the whole set, so the
  training, fitness and test rows of a fold all take the same path (a
  fold's test rows alone, copied, would hold a fifth of a corpus)."""
  return bool(max_gb) and x.ndim == 4 and rows_gb(x) > max_gb


def check_view(view_segments: str | None, gb: float, max_gb: float) -> None:
  """A view that does not shrink the segments cannot stream."""
  if view_segments not in model_lib.POOLED_STATS:
    raise ValueError(
        f"the segments take {gb:.1f} GB, over config.data_memory_gb"
        f'={max_gb:g}, and model.input_view={view_segments!r} reads every '
        f'value of them; use a pooled view ({", ".join(model_lib.POOLED_STATS)}'
        ') or raise config.data_memory_gb')


def blocks(x, rows: np.ndarray, block_rows: int = BLOCK_ROWS
           ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """(positions in `rows`, float32 rows x[rows[positions]]) a block at a
  time, reading each contiguous span of the store once, in file order."""
  rows = np.asarray(rows, np.int64)
  order = np.argsort(rows, kind='stable')
  sorted_rows = rows[order]
  start = 0
  while start < sorted_rows.size:
    first = sorted_rows[start]
    stop = int(np.searchsorted(sorted_rows, first + block_rows))
    span = featureset.read_rows(x, int(first), int(sorted_rows[stop - 1]) + 1)
    yield order[start:stop], np.asarray(span[sorted_rows[start:stop] - first],
                                        np.float32)
    start = stop


def fit_normalizer(x, mode: str, rows: np.ndarray | None, speaker,
                   eps: float = 1e-6, block_rows: int = BLOCK_ROWS
                   ) -> normalize.NormStats:
  """normalize.fit_normalizer's statistics from running float64 sums
  (mean and E[x^2] - mean^2) over blocks of x [n, H, W, C]."""
  if mode not in normalize.MODES:
    raise ValueError(f'unknown normaliser mode {mode!r}; valid: '
                     f'{normalize.MODES}')
  if mode == 'none':
    return normalize.fit_normalizer(x[:0], 'none')
  speaker = np.asarray(speaker).astype(str)
  if mode == 'speaker' or rows is None:  # speaker: every row of each speaker
    rows = np.arange(len(x))
  groups = np.unique(speaker) if mode == 'speaker' else np.asarray([''])
  group_of = (np.searchsorted(groups, speaker[rows]) if mode == 'speaker'
              else np.zeros(len(rows), np.int64))
  axes = (0,) if mode == 'pixel' else (0, 2)
  shape = (x.shape[1], x.shape[2] if mode == 'pixel' else 1, x.shape[3])
  total = np.zeros((len(groups), *shape))
  squares = np.zeros((len(groups), *shape))
  count = np.zeros(len(groups))
  for pos, block in blocks(x, rows, block_rows):
    block = block.astype(np.float64)
    for g in np.unique(group_of[pos]):
      part = block[group_of[pos] == g]
      total[g] += part.sum(axis=axes, keepdims=True)[0]
      squares[g] += (part * part).sum(axis=axes, keepdims=True)[0]
      count[g] += part.shape[0] * (1 if mode == 'pixel' else part.shape[2])
  count = count.reshape(-1, 1, 1, 1)
  mean = total / count
  std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
  std = np.maximum(std, eps).astype(np.float32)
  mean = mean.astype(np.float32)
  if mode == 'speaker':
    return normalize.NormStats('speaker', mean, std, tuple(groups.tolist()))
  return normalize.NormStats(mode, mean[0], std[0])


def pooled_rows(x, stats: normalize.NormStats, speaker, rows: np.ndarray,
                view_segments: str, block_rows: int = BLOCK_ROWS
                ) -> np.ndarray:
  """float32 [len(rows), d]: each row normalised by `stats`, then layer 1's
  pooled view (model.input_view) flattened, made a block at a time."""
  rows = np.asarray(rows, np.int64)
  per_segment = model_lib.POOLED_STATS[view_segments]
  d = x.shape[1] * per_segment * x.shape[3]
  out = np.empty((rows.size, d), np.float32)
  speaker = np.asarray(speaker)
  for pos, block in blocks(x, rows, block_rows):
    xn = normalize.apply_normalizer(stats, block, speaker=speaker[rows[pos]])
    out[pos] = np.asarray(model_lib.input_view(xn, view_segments),
                          np.float32).reshape(len(pos), d)
  return out
