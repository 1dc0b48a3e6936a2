"""Fold statistics: mean ± std over folds × seeds, paired Wilcoxon tests over
the same folds (the one paired test of the project; `python -m
experiments.stats` prints it for two results files).
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats as scipy_stats


# Differences below this are rounding, not a difference between methods.
_ZERO = 1e-12


def mean_std(values: Sequence[float]) -> dict[str, float]:
  """{'mean', 'std' (ddof=0, as metrics.aggregate_folds), 'n'} of scores."""
  values = np.asarray(values, dtype=np.float64)
  if values.size == 0:
    raise ValueError('no scores to summarise')
  return {'mean': float(values.mean()), 'std': float(values.std()),
          'n': int(values.size)}


def smallest_p(n_nonzero: int) -> float:
  """The smallest two-sided exact Wilcoxon p-value n differences can give."""
  return min(1.0, 2.0 / 2.0**n_nonzero)


def paired_test(a: Sequence[float], b: Sequence[float],
                alpha: float = 0.05) -> dict[str, Any]:
  """Two-sided Wilcoxon signed-rank test of paired scores a[i] vs b[i].

  Zero differences are dropped (scipy's default 'wilcox' method). The result
  says in `note` when the test cannot decide: all differences zero (p = 1),
  or too few non-zero differences for any p below `alpha`.

  Returns:
    dict with 'n' pairs, 'n_nonzero', 'mean_diff' (mean of a - b), 'wins'
    (pairs where a > b), 'losses', 'statistic', 'pvalue', 'smallest_p' and
    'note' ('' when the test could reach `alpha`).
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.shape != b.shape or a.ndim != 1:
    raise ValueError(f'paired scores need equal-length 1-D arrays, got '
                     f'{a.shape} and {b.shape}')
  if a.size == 0:
    raise ValueError('no pairs to test')
  diff = np.where(np.abs(a - b) < _ZERO, 0.0, a - b)
  n_nonzero = int(np.count_nonzero(diff))
  out = {'n': int(a.size), 'n_nonzero': n_nonzero,
         'mean_diff': float(diff.mean()), 'wins': int((diff > 0).sum()),
         'losses': int((diff < 0).sum()), 'smallest_p': smallest_p(n_nonzero)}
  if n_nonzero == 0:
    return {**out, 'statistic': math.nan, 'pvalue': 1.0,
            'note': 'all differences are zero'}
  result = scipy_stats.wilcoxon(diff)
  note = ''
  if out['smallest_p'] > alpha:
    note = (f'{n_nonzero} non-zero differences cannot give p < {alpha} '
            f'(smallest possible p = {out["smallest_p"]:.3g})')
  return {**out, 'statistic': float(result.statistic),
          'pvalue': float(result.pvalue), 'note': note}


def fold_scores(results: Mapping[str, Any], metric: str = 'ua',
                level: str = 'utterance') -> dict[tuple[int, int], dict]:
  """Per-fold scores of one results file, keyed by (seed, fold index).

  Reads experiments.train results ('folds', each with `level` scores and a
  'fold' index; one 'seed') and experiments.baseline results ('per_fold',
  each with 'seed' and 'fold'; utterance level only).

  Returns:
    {(seed, fold): {'value': the metric, 'n': test items}}.
  """
  if 'per_fold' in results:  # baseline
    return {(int(f['seed']), int(f['fold'])): {'value': float(f[metric]),
                                               'n': int(f['n'])}
            for f in results['per_fold']}
  seed = int(results['seed'])
  return {(seed, int(f['fold'])): {'value': float(f[level][metric]),
                                   'n': int(f[level]['n'])}
          for f in results['folds']}


def merged_fold_scores(results: Sequence[Mapping[str, Any]], metric: str = 'ua',
                       level: str = 'utterance') -> dict[tuple[int, int], dict]:
  """`fold_scores` of several files (e.g. one per seed); keys must not repeat."""
  merged: dict[tuple[int, int], dict] = {}
  for r in results:
    scores = fold_scores(r, metric, level)
    repeated = sorted(set(scores) & set(merged))
    if repeated:
      raise ValueError(f'(seed, fold) {repeated} appear in two results files')
    merged.update(scores)
  return merged


def average_over_seeds(scores: Mapping[tuple[int, int], dict]
                       ) -> dict[tuple[int, int], dict]:
  """{(-1, fold): mean value over seeds} for folds that do not change with
  the seed (leave-one-speaker-out); their test sets must agree in size."""
  by_fold: dict[int, list[dict]] = {}
  for (_, fold), v in sorted(scores.items()):
    by_fold.setdefault(fold, []).append(v)
  out = {}
  for fold, values in by_fold.items():
    if len({v['n'] for v in values}) > 1:
      raise ValueError(f'fold {fold} has test sets of different sizes over '
                       'seeds: its folds depend on the seed, do not average')
    out[(-1, fold)] = {'value': float(np.mean([v['value'] for v in values])),
                       'n': values[0]['n']}
  return out


def compare(a: Mapping[tuple[int, int], dict],
            b: Mapping[tuple[int, int], dict],
            alpha: float = 0.05, average_seeds: bool = False
            ) -> dict[str, Any]:
  """Both sides' mean ± std and a paired test over their common folds.

  With `average_seeds`, each side is first averaged over seeds per fold
  (`average_over_seeds`); the means are unchanged when every fold has the
  same seeds, the test then counts each fold once.

  Raises:
    ValueError: no common (seed, fold), or a common fold whose test sets
      differ in size (then the folds are not the same and pairing lies).
  """
  if average_seeds:
    a, b = average_over_seeds(a), average_over_seeds(b)
  keys = sorted(set(a) & set(b))
  if not keys:
    raise ValueError('the two sides share no (seed, fold)')
  differ = [k for k in keys if a[k]['n'] != b[k]['n']]
  if differ:
    raise ValueError(f'folds {differ} have test sets of different sizes: not '
                     'the same folds (same protocol, seed and corpus?)')
  va = [a[k]['value'] for k in keys]
  vb = [b[k]['value'] for k in keys]
  return {'a': mean_std(va), 'b': mean_std(vb),
          'test': paired_test(va, vb, alpha), 'pairs': [list(k) for k in keys]}


def format_comparison(c: Mapping[str, Any], metric: str = 'ua') -> str:
  """One line: both means ± std, the mean difference and the p-value."""
  t = c['test']
  line = (f"{metric.upper()} a {c['a']['mean']:.3f} ± {c['a']['std']:.3f} | "
          f"b {c['b']['mean']:.3f} ± {c['b']['std']:.3f} | a - b "
          f"{t['mean_diff']:+.3f} ({t['wins']} wins, {t['losses']} losses) | "
          f"Wilcoxon p = {t['pvalue']:.3g} over {t['n']} "
          f"{'folds' if c['pairs'][0][0] == -1 else 'folds × seeds'}")
  return line + (f" ({t['note']})" if t['note'] else '')


def read_results(paths: str) -> list[dict[str, Any]]:
  out = []
  for path in filter(None, paths.split(',')):
    with open(path) as f:
      out.append(json.load(f))
  return out
