r"""Markdown rows of several methods on the same folds, each against an anchor.

  python -m experiments.table \
      --anchor=runs/anchor/emodb_ComParE_2016_speaker_kfold_nospeaker_norm.json \
      --row='improved|runs/improved_loso_s0/results.json' \
      --row='improved_speaker|runs/improved_spk_loso_s0/results.json,runs/improved_spk_loso_s1/results.json' \
      --average_seeds

Each --row is 'label|results.json[,results.json...]' (experiments.train or
experiments.baseline results, e.g. one file per seed). Printed per row: the
folds × seeds, utterance WA and UA mean ± std, the mean wall time of a run,
and the UA difference to the anchor with its paired Wilcoxon p-value over
the folds both share (experiments.stats).
"""
from __future__ import annotations

import json
import sys
from typing import Any, Sequence

from absl import flags

from experiments.lib import cli
from experiments import stats


def read_row(spec: str) -> tuple[str, list[dict[str, Any]]]:
  label, _, paths = spec.partition('|')
  if not paths:
    raise ValueError(f"--row {spec!r} is not 'label|path[,path...]'")
  results = []
  for path in paths.split(','):
    with open(path) as f:
      results.append(json.load(f))
  return label, results


def wall_s(results: Sequence[dict[str, Any]]) -> float | None:
  """Mean wall seconds of one run (experiments.train results only)."""
  times = [r['timings']['total_s'] for r in results
           if 'total_s' in r.get('timings', {})]
  return sum(times) / len(times) if times else None


def row_markdown(label: str, results, anchor, average_seeds: bool) -> str:
  cells = [label]
  by_metric = {m: stats.merged_fold_scores(results, m) for m in ('wa', 'ua')}
  seeds = sorted({k[0] for k in by_metric['ua']})
  cells.append(f"{len(by_metric['ua']) // len(seeds)} × {len(seeds)}")
  for m in ('wa', 'ua'):
    s = stats.mean_std([v['value'] for v in by_metric[m].values()])
    cells.append(f"{s['mean']:.3f} ± {s['std']:.3f}")
  wall = wall_s(results)
  cells.append('–' if wall is None else f'{wall / 60:.1f} min')
  if anchor is None:
    return '| ' + ' | '.join(cells) + ' |'
  c = stats.compare(by_metric['ua'], stats.merged_fold_scores(anchor, 'ua'),
                    average_seeds=average_seeds)
  t = c['test']
  cells += [f"{t['mean_diff']:+.3f} ({t['wins']}/{t['losses']})",
            f"{t['pvalue']:.2g} ({t['n']})"]
  return '| ' + ' | '.join(cells) + ' |'


def markdown(rows, anchor_label: str, anchor, average_seeds: bool) -> str:
  head = ['method', 'folds × seeds', 'utterance WA', 'utterance UA',
          'wall / run']
  if anchor is not None:
    head += [f'UA − {anchor_label} (wins/losses)', 'Wilcoxon p (pairs)']
  lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  lines += [row_markdown(label, results, anchor, average_seeds)
            for label, results in rows]
  return '\n'.join(lines)


def define_flags() -> None:
  flags.DEFINE_multi_string('row', [], "'label|results.json[,...]'")
  flags.DEFINE_string('anchor', None, 'Results JSON file(s) of the anchor, '
                      'comma-separated (e.g. experiments.baseline output, or '
                      'one train results file per seed); rows are tested '
                      'against it.')
  flags.DEFINE_string('anchor_label', 'anchor', 'Its name in the header.')
  flags.DEFINE_bool('average_seeds', False, 'Average each fold over seeds '
                    'first (leave-one-speaker-out folds).')


def main(argv: Sequence[str]) -> None:
  del argv
  f = flags.FLAGS
  try:
    anchor = read_row(f'anchor|{f.anchor}')[1] if f.anchor else None
    print(markdown([read_row(r) for r in f.row], f.anchor_label, anchor,
                   f.average_seeds))
  except (ValueError, OSError) as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
