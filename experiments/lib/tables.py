"""Markdown rows of several methods on the same folds, each against an anchor
(`python -m experiments.table` prints them).
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from experiments.lib import stats


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
