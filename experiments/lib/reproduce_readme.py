"""The README experiments.reproduce writes: the paper's figure beside ours
per row and protocol, pooled over (seed, fold); the gains table (a row
against its references on the same seeds and folds, with the project's one
paired test, `stats.paired_test`); the learning curves.

An outcome entry (experiments/lib/reproduce.py) is {'missing': [...],
'runs': {protocol: first seed's results}, 'seeds': {protocol: {seed:
results}}, 'curve': {protocol: {fraction: {seed: results}}}, 'dirs':
{protocol: the run folder's name}}.
"""
from __future__ import annotations

import datetime
import os
from typing import Any, Sequence

import numpy as np

from experiments.lib import plots
from experiments.lib import rows as rows_lib
from experiments.lib import stats


def fold_scores(by_seed: dict[int, dict[str, Any]]
                ) -> dict[tuple[int, int], dict[str, float]]:
  """{(seed, fold): {'wa', 'ua', 'segment_wa', 'n_train_utterances'}} of
  one row's runs (utterance level unless named)."""
  out = {}
  for seed, results in by_seed.items():
    for f in results.get('folds', ()):
      out[(seed, f['fold'])] = {
          'wa': f['utterance']['wa'], 'ua': f['utterance']['ua'],
          'segment_wa': f['segment']['wa'],
          'n_train_utterances': f.get('n_train_utterances')}
  return out


def _mean_std(values) -> str:
  return f'{np.mean(values):.3f} ± {np.std(values):.3f}'


def score_cells(results: dict[str, Any], link: str) -> list[str]:
  """[utterance WA, utterance UA, segment WA] as 'mean ± std' cells."""
  agg = results['aggregate']
  cell = lambda d, k: f"{d[k + '_mean']:.3f} ± {d[k + '_std']:.3f}"
  return [f"[{cell(agg['utterance'], 'wa')}]({link})",
          cell(agg['utterance'], 'ua'), cell(agg['segment'], 'wa')]


def pooled_cells(by_seed: dict[int, dict[str, Any]], link: str) -> list[str]:
  """score_cells over every (seed, fold) of several seeds' runs."""
  if len(by_seed) == 1:
    return score_cells(next(iter(by_seed.values())), link)
  scores = list(fold_scores(by_seed).values())
  column = lambda k: [s[k] for s in scores]
  return [f"[{_mean_std(column('wa'))}]({link})", _mean_std(column('ua')),
          _mean_std(column('segment_wa'))]


def paired_gain(runs: dict[int, dict[str, Any]],
                reference: dict[int, dict[str, Any]], metric: str = 'ua'
                ) -> dict[str, Any] | None:
  """A row's gain over a reference on the (seed, fold) pairs both ran.

  Returns:
    {'n', 'mean', 'std', 'wins', 'p', 'note'} of the per-pair differences
    of the utterance-level `metric` (p: two-sided Wilcoxon signed-rank test,
    `stats.paired_test`; note: why it cannot decide, or ''), or None without
    common pairs.
  """
  a, b = fold_scores(runs), fold_scores(reference)
  pairs = sorted(set(a) & set(b))
  if not pairs:
    return None
  test = stats.paired_test([a[k][metric] for k in pairs],
                           [b[k][metric] for k in pairs])
  diff = np.asarray([a[k][metric] - b[k][metric] for k in pairs])
  return {'n': test['n'], 'mean': float(diff.mean()),
          'std': float(diff.std()), 'wins': test['wins'],
          'p': test['pvalue'], 'note': test['note']}


def _ok(by_seed: dict[int, dict[str, Any]] | None) -> dict[int, dict]:
  """The seeds' runs that finished (no error entries)."""
  return {s: r for s, r in (by_seed or {}).items() if 'error' not in r}


def gains_lines(outcome: dict[str, dict[str, Any]],
                protocols: Sequence[str]) -> list[str]:
  """The markdown gains table of the GAINS pairs that both ran."""
  by_name = {r.name: r for r in rows_lib.ROWS}
  lines = []
  for row, ref in rows_lib.GAINS:
    if row not in outcome or ref not in outcome:
      continue
    for p in protocols:
      g = paired_gain(_ok(outcome[row]['seeds'].get(p)),
                      _ok(outcome[ref]['seeds'].get(p)))
      if g is None:
        continue
      p_value = '—' if np.isnan(g['p']) else f"{g['p']:.3g}"
      lines.append(
          f"| {by_name[row].label} | {by_name[ref].label} | {p} | "
          f"{g['mean']:+.3f} ± {g['std']:.3f} | {g['wins']}/{g['n']} | "
          f'{p_value} |')
  if not lines:
    return []
  return ['', '## Gains (utterance UA, paired over the same seeds and folds)',
          '', 'Difference row − reference per (seed, fold) of the same target '
          'folds: mean ± std, how many pairs the row wins, and the two-sided '
          'Wilcoxon signed-rank p-value (experiments/lib/stats.py).', '',
          '| row | reference | protocol | UA gain | wins | p |',
          '|---|---|---|---|---|---|'] + lines


def learning_curves(outcome: dict[str, dict[str, Any]], out: str,
                    protocols: Sequence[str]) -> list[str]:
  """One PNG per (protocol, target) of utterance UA against the number of
  training utterances per fold, a line per row; markdown lines for them."""
  by_name = {r.name: r for r in rows_lib.ROWS}
  lines = []
  for p in protocols:
    groups: dict[str, dict[str, Any]] = {}
    for name, entry in outcome.items():
      for fraction, by_seed in sorted(entry['curve'].get(p, {}).items()):
        scores = list(fold_scores(_ok(by_seed)).values())
        if not scores:
          continue
        target = next(iter(_ok(by_seed).values()))['target']
        n_utt = [s['n_train_utterances'] for s in scores]
        x = (float(np.mean(n_utt)) if None not in n_utt else fraction)
        ua = [s['ua'] for s in scores]
        curve = groups.setdefault(target, {}).setdefault(
            by_name[name].label, {'x': [], 'mean': [], 'std': []})
        curve['x'].append(x)
        curve['mean'].append(float(np.mean(ua)))
        curve['std'].append(float(np.std(ua)))
    for target, curves in groups.items():
      stem = 'curve_' + ''.join(c if c.isalnum() else '_' for c in
                                f'{target}_{p}')
      plots.plot_learning_curves(
          curves, os.path.join(out, stem + '.png'),
          f'{target} ({p}): utterance UA against training utterances')
      lines += [f'- `{target}`, {p}: [{stem}.png]({stem}.png)']
  return lines


def readme(outcome: dict[str, dict[str, Any]], protocols: Sequence[str], *,
           data_root: str, generations: int, max_folds: int, epochs: int,
           synthetic: bool, seeds: Sequence[int] = (0,),
           pathnet: str = 'paper', classes: Sequence[str] = (),
           curves: Sequence[str] = (), commit: str = 'unknown') -> str:
  """The comparison table (markdown); `commit`: the code's git commit."""
  by_name = {r.name: r for r in rows_lib.ROWS}
  head = ['row', 'method', 'paper']
  for p in protocols:
    head += [f'{p}: utterance WA', 'utterance UA', 'segment WA']
  head.append('notes')
  pooled = (f'over folds of {len(seeds)} seeds ({", ".join(map(str, seeds))})'
            if len(seeds) > 1 else 'over folds')
  lines = [
      '# Nguyen et al. (2023) reproduced', '',
      f'Overall accuracy. *paper*: their figure (random 5-fold). *Ours*: mean '
      f'± std {pooled} of weighted accuracy (WA = overall accuracy) and '
      'unweighted accuracy (UA = mean per-class recall), at utterance level '
      '(mean of segment log-probabilities) and segment level. '
      '`random_kfold`: 5 folds stratified by emotion, split by utterance (the '
      'paper); `speaker_kfold`: leave-one-speaker-out (12 speaker groups for '
      'corpora with more speakers). Each WA links to the run\'s summary '
      '(confusion.png and fitness.png sit beside it).', '']
  if pathnet != 'paper':
    lines += [f'PathNet rows use the `{pathnet}` config '
              f'(experiments/configs/{pathnet}.py) on top of each row.', '']
  if classes:
    lines += ['Shared classes only: every run keeps ' + ', '.join(classes) +
              ' (the classes common to all corpora of these rows).', '']
  quick = [s for s, v in (('generations', generations),
                          ('max_folds', max_folds), ('epochs', epochs)) if v]
  if quick or synthetic:
    what = ', '.join(f'{s}={v}' for s, v in (
        ('generations', generations), ('max_folds', max_folds),
        ('epochs', epochs)) if v)
    lines += [f'**Quick run ({what}{", " if what and synthetic else ""}'
              f'{"synthetic corpus for every corpus" if synthetic else ""}): '
              'not comparable with the paper.**', '']
  lines += ['| ' + ' | '.join(head) + ' |',
            '|' + '---|' * len(head)]
  for name, entry in outcome.items():
    row = by_name[name]
    cells = [row.label, 'PathNet' if row.method == 'pathnet' else 'CNN',
             row.paper or '(added)']
    notes = [row.note] if row.note else []
    if entry['missing']:
      notes.insert(0, f"not run: corpus {', '.join(entry['missing'])} not "
                   'found')
    for p in protocols:
      by_seed = entry.get('seeds', {}).get(p) or (
          {0: entry['runs'][p]} if p in entry['runs'] else {})
      errors = [r['error'] for r in by_seed.values() if 'error' in r]
      done = _ok(by_seed)
      if not done:
        cells += ['—'] * 3
      else:
        cells += pooled_cells(done, f"{entry['dirs'][p]}/summary.md")
      notes += [f'{p} failed: {e}' for e in errors]
    cells.append('; '.join(notes))
    lines.append('| ' + ' | '.join(c.replace('|', '/') for c in cells) + ' |')
  lines += gains_lines(outcome, protocols)
  if curves:
    lines += ['', '## Learning curves (utterance UA against the training '
              'utterances per fold, mean ± std over folds and seeds)', '']
    lines += list(curves)
  settings = (f'{generations} generations' if generations else
              'the generations of each config (the paper: 200)')
  pathnet_settings = ("the paper's hyper-parameters (configs/default.py)"
                      if pathnet == 'paper' else
                      f'configs/{pathnet}.py applied to each row')
  lines += ['', f'Settings: experiments/configs/<row>.py with {settings}; the '
            f'PathNet rows use {pathnet_settings}, the CNN rows '
            'configs/finetune.py.']
  if synthetic:
    lines += ['', 'Every corpus was replaced by the built-in synthetic one.']
  else:
    corpora_lines = corpus_notes(data_root)
    lines += ['', f'Data root `{data_root}`' + (':' if corpora_lines else
                                                 ': no corpus found.')]
    lines += corpora_lines
  lines += ['', f'git commit {commit}, written '
            f'{datetime.datetime.now().isoformat(timespec="minutes")}.', '']
  return '\n'.join(lines)


def corpus_notes(data_root: str) -> list[str]:
  """One line per corpus folder found: its name and README's first heading."""
  from data_prep import corpora  # pylint: disable=g-import-not-at-top
  lines = []
  for name in corpora.NAMES:
    readme = os.path.join(data_root, name, 'README.md')
    if not os.path.isdir(os.path.join(data_root, name)):
      continue
    head = ''
    if os.path.isfile(readme):
      with open(readme, encoding='utf-8', errors='replace') as f:
        text = f.read()
      head = next((l.lstrip('# ').strip() for l in text.splitlines()
                   if l.strip()), '')
      if 'not the original' in text.lower():
        head += ' — not the original recordings: figures are close to, not ' \
                'identical with, the original corpus'
    lines.append(f'- `{name}/`' + (f': {head}' if head else ''))
  return lines
