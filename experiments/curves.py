r"""Learning curves from finished runs: utterance UA against the number of
labelled training utterances per fold, one line per method.

  python -m experiments.curves --out=docs/curve_ravdess_to_emodb.png \
      --title='RAVDESS → EMO-DB' \
      --line='transfer|runs/lc_f0.1/results.json,runs/a_rav_emo_s0/results.json' \
      --line='scratch|runs/lc_scratch_f0.1/results.json,runs/scratch_s0/results.json'

Each --line is 'label|results.json[,...]' (experiments.train,
experiments.finetune or experiments.baseline --train_fraction results); the runs of a line are grouped by their
config's train_fraction, and runs of the same fraction (seeds) are pooled.
A point is the mean ± std over folds × seeds; x is the mean number of
training utterances per fold. Prints the points as a markdown table; with
--baseline=LABEL also each line's UA gain over that line per fraction and a
Wilcoxon test over all (fraction, seed, fold) pairs they share.
"""
from __future__ import annotations

import collections
from typing import Any, Sequence

from absl import flags
import numpy as np

from experiments.lib import cli
from experiments.lib import configs
from experiments.lib import plots
from experiments.lib import stats
from experiments.lib import tables


def train_fraction(results: dict[str, Any]) -> float:
  """The run's config.train_fraction (configs/default.py's for a run that
  predates the field)."""
  return float(configs.recorded_value(results['config'], 'train_fraction'))


def as_training_results(results: dict[str, Any]) -> list[dict[str, Any]]:
  """experiments.baseline results as one training-results-like dict per
  seed ('config' with its train_fraction, 'seed', 'folds' with utterance
  UA and training utterances); training results as they are."""
  if 'per_fold' not in results:
    return [results]
  config = {'train_fraction': results.get('train_fraction', 1.0)}
  by_seed = collections.defaultdict(list)
  for f in results['per_fold']:
    by_seed[int(f['seed'])].append(
        {'fold': f['fold'], 'utterance': {'ua': f['ua']},
         'n_train_utterances': f['n_train']})
  return [{'config': config, 'seed': seed, 'folds': folds}
          for seed, folds in sorted(by_seed.items())]


def curve_points(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
  """One point per train_fraction of `results`, sorted by it.

  Returns: [{'fraction', 'n_train' (mean utterances per fold), 'mean', 'std'
  (utterance UA over folds × runs), 'n' (folds × runs)}].
  """
  by_fraction = collections.defaultdict(list)
  for r in results:
    by_fraction[train_fraction(r)].append(r)
  points = []
  for fraction, runs in sorted(by_fraction.items()):
    folds = [f for r in runs for f in r['folds']]
    ua = [f['utterance']['ua'] for f in folds]
    points.append(dict(
        fraction=fraction,
        n_train=float(np.mean([f['n_train_utterances'] for f in folds])),
        mean=float(np.mean(ua)), std=float(np.std(ua)), n=len(ua)))
  return points


def fold_uas(results: Sequence[dict[str, Any]]
             ) -> dict[tuple[float, int, int], float]:
  """Utterance UA per (train_fraction, seed, fold) of `results`."""
  return {(train_fraction(r), int(r['seed']), int(f.get('fold', i))):
          f['utterance']['ua']
          for r in results for i, f in enumerate(r['folds'])}


def gain_markdown(uas: dict[str, dict[tuple[float, int, int], float]],
                  baseline: str) -> str:
  """Each line's UA minus the baseline's, per fraction (mean, wins/losses over
  the folds × seeds both have) and pooled over every shared pair."""
  if baseline not in uas:
    raise ValueError(f'--baseline {baseline!r} is not a --line label')
  base = uas[baseline]
  fractions = sorted({k[0] for k in base})
  head = (['method − ' + baseline] + [f'{f:g}' for f in fractions]
          + ['all pairs: Wilcoxon p (pairs)'])
  out = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for label, scores in uas.items():
    if label == baseline:
      continue
    keys = sorted(set(scores) & set(base))
    if not keys:
      continue
    cells = [label]
    for f in fractions:
      ks = [k for k in keys if k[0] == f]
      d = np.array([scores[k] - base[k] for k in ks])
      cells.append(f'{d.mean():+.3f} ({(d > 0).sum()}/{(d < 0).sum()})'
                   if ks else '–')
    t = stats.paired_test([scores[k] for k in keys], [base[k] for k in keys])
    cells.append(f"{t['mean_diff']:+.3f}, p {t['pvalue']:.2g} ({t['n']})")
    out.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(out)


def markdown(lines: dict[str, list[dict[str, Any]]]) -> str:
  """A row per method, a column per training fraction."""
  fractions = sorted({p['fraction'] for pts in lines.values() for p in pts})
  head = ['method'] + [f'{f:g} of each training fold' for f in fractions]
  out = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for label, pts in lines.items():
    by = {p['fraction']: p for p in pts}
    cells = [label] + [
        f"{by[f]['mean']:.3f} ± {by[f]['std']:.3f} ({by[f]['n_train']:.0f} utt.)"
        if f in by else '–' for f in fractions]
    out.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(out)


def define_flags() -> None:
  flags.DEFINE_multi_string('line', [], "'label|results.json[,...]'")
  flags.DEFINE_string('out', None, 'PNG to write.')
  flags.DEFINE_string('title', '', 'Figure title.')
  flags.DEFINE_string('baseline', None, 'A --line label: print the other '
                      'lines\' gains over it with a paired test.')


def main(argv: Sequence[str]) -> None:
  del argv
  f = flags.FLAGS
  if not f.line or not f.out:
    raise ValueError('give --out and at least one --line')
  lines, uas = {}, {}
  for spec in f.line:
    label, results = tables.read_row(spec)
    results = [r for res in results for r in as_training_results(res)]
    try:
      lines[label] = curve_points(results)
      uas[label] = fold_uas(results)
    except KeyError as e:  # a JSON file of another kind
      raise ValueError(f'--line {spec!r}: not training results (no {e})'
                       ) from e
  plots.plot_learning_curves(
      {label: {'x': [p['n_train'] for p in pts],
               'mean': [p['mean'] for p in pts],
               'std': [p['std'] for p in pts]}
       for label, pts in lines.items()}, f.out, f.title)
  print(markdown(lines))
  if f.baseline:
    print()
    print(gain_markdown(uas, f.baseline))


if __name__ == '__main__':
  cli.run(main, define_flags)
