"""Learning speed on the target (issue 33; DESIGN.md §6, after Fernando et
al. 2017): held-out accuracy against cumulative target SGD steps, the steps
each method needs to reach a threshold, and speed-up ratios paired over the
same (seed, fold) runs.

The curve of a run is its best held-out fitness so far (the accuracy on the
training fold's held-out rows of the pathway it would keep, the choice PathNet
and every control make the same way) after each generation, against the SGD
steps trained so far (`sgd_steps_per_generation` per generation; the final
phase comes after the curve). Test rows are never used. It needs a held-out
fitness (config.fitness 'heldout' or 'validation'): under the paper's
training-accuracy fitness there is no held-out curve.

The threshold of a (seed, fold) is THRESHOLD_SHARE of the reference method's
(the independent control's) final held-out accuracy on that run, fixed
before any other method is looked at; a run that never reaches it counts at
its budget (all generations' steps), as Fernando et al. count it.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from experiments.lib import configs
from experiments.lib import stats

# Share of the reference's final held-out accuracy a run must reach.
THRESHOLD_SHARE = 0.95

Key = tuple[int, int]  # (seed, fold)


def curve(fold: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
  """(cumulative SGD steps [G], best held-out accuracy so far [G]) of one
  fold's scores (a results.json 'folds' entry)."""
  if 'sgd_steps_per_generation' not in fold:
    raise ValueError('a run without sgd_steps_per_generation (made before '
                     'issue 33): rerun it to get its learning curve')
  if fold.get('fitness', 'heldout') == 'train':
    raise ValueError('the run measured fitness on its training rows: no '
                     'held-out curve (use config.fitness=heldout)')
  best = np.asarray(fold['history']['best_fitness'], np.float64)
  steps = int(fold['sgd_steps_per_generation']) * np.arange(1, best.size + 1)
  return steps, best


def steps_to(steps: np.ndarray, accuracy: np.ndarray, threshold: float,
             budget: int) -> int:
  """The first cumulative step count whose accuracy reaches `threshold`,
  or `budget` when none does."""
  hit = np.nonzero(accuracy >= threshold - 1e-12)[0]
  return int(steps[hit[0]]) if hit.size else int(budget)


def budget(fold: Mapping[str, Any], generations: int) -> int:
  """The search's step budget: every generation's steps."""
  return int(fold['sgd_steps_per_generation']) * int(generations)


def runs_by_key(results: Sequence[Mapping[str, Any]]
                ) -> dict[Key, dict[str, Any]]:
  """(seed, fold) -> fold scores, with the run's generations and fitness,
  of experiments.train results files (one per seed)."""
  out: dict[Key, dict[str, Any]] = {}
  for r in results:
    config = r['config']
    for f in r['folds']:
      key = (int(r['seed']), int(f['fold']))
      if key in out:
        raise ValueError(f'(seed, fold) {key} appears in two results files')
      out[key] = {**f, 'generations': int(configs.recorded_value(
          config, 'evolution.generations')),
                  'fitness': configs.recorded_value(config, 'fitness')}
  return out


def steps_to_threshold(methods: Mapping[str, Mapping[Key, dict]],
                       reference: str, share: float = THRESHOLD_SHARE
                       ) -> dict[str, dict[Key, int]]:
  """label -> (seed, fold) -> steps to reach `share` of the reference's
  final held-out accuracy on that (seed, fold); keys all methods share."""
  if reference not in methods:
    raise ValueError(f'reference {reference!r} is not one of the methods '
                     f'{sorted(methods)}')
  keys = sorted(set.intersection(*(set(m) for m in methods.values())))
  if not keys:
    raise ValueError('the methods share no (seed, fold) run')
  thresholds = {k: share * curve(methods[reference][k])[1][-1] for k in keys}
  return {label: {k: steps_to(*curve(runs[k]), thresholds[k],
                              budget(runs[k], runs[k]['generations']))
                  for k in keys}
          for label, runs in methods.items()}


def speedups(steps: Mapping[str, Mapping[Key, int]], fast: str
             ) -> dict[str, dict[str, Any]]:
  """Each other method's speed-up ratio over `fast`: its steps / fast's per
  run (geometric mean; > 1: `fast` reaches the threshold sooner), with a
  paired Wilcoxon test of the step counts."""
  base = steps[fast]
  out = {}
  for label, s in steps.items():
    if label == fast:
      continue
    keys = sorted(base)
    ratio = np.array([s[k] / base[k] for k in keys], np.float64)
    test = stats.paired_test([s[k] for k in keys], [base[k] for k in keys])
    out[label] = {'geomean_ratio': float(np.exp(np.log(ratio).mean())),
                  'steps': float(np.mean([s[k] for k in keys])),
                  'fast_steps': float(np.mean([base[k] for k in keys])),
                  'test': test}
  return out


def markdown(steps: Mapping[str, Mapping[Key, int]], fast: str,
             reference: str, share: float = THRESHOLD_SHARE) -> str:
  """A row per method: mean steps to the threshold, and against `fast` the
  speed-up ratio, wins (runs where `fast` needed fewer steps) and p."""
  ratios = speedups(steps, fast)
  head = (f'| method | SGD steps to {share:.0%} of {reference}\'s final '
          f'held-out accuracy | speed-up of {fast} (steps ratio, geometric '
          f'mean) | {fast} faster / slower (runs) | Wilcoxon p |')
  lines = [head, '|---|---|---|---|---|']
  lines.append(f'| {fast} | {np.mean(list(steps[fast].values())):.0f} | – '
               '| – | – |')
  for label, r in ratios.items():
    t = r['test']
    lines.append(f"| {label} | {r['steps']:.0f} | {r['geomean_ratio']:.2f}"
                 f" | {t['wins']} / {t['losses']} | {t['pvalue']:.2g} "
                 f"({t['n']}) |")
  return '\n'.join(lines)


def mean_curves(methods: Mapping[str, Mapping[Key, dict]]
                ) -> dict[str, dict[str, list[float]]]:
  """label -> {'x': steps, 'mean', 'std'}: held-out accuracy over runs at
  each generation (runs of a method share their steps per generation only
  when their folds are equally large: x is the mean over runs)."""
  out = {}
  for label, runs in methods.items():
    curves = [curve(f) for f in runs.values()]
    g = min(len(c[0]) for c in curves)
    x = np.mean([c[0][:g] for c in curves], axis=0)
    y = np.array([c[1][:g] for c in curves])
    out[label] = {'x': x.tolist(), 'mean': y.mean(0).tolist(),
                  'std': y.std(0).tolist()}
  return out
