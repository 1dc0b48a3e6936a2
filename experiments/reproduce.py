r"""Runs the paper's table rows on the corpora present and writes a comparison.

  python -m experiments.reproduce --data_root=../shared/data --out=results
  # a quick look (not comparable with the paper):
  python -m experiments.reproduce --rows=a_emo,emodb_f2m --generations=5 \
      --max_folds=1 --out=results_quick

Every row of Nguyen et al. (2023) whose corpora are under --data_root
(emodb/, savee/, enterface/, ravdess/ in their standard layouts) runs under
both protocols (random 5-fold by utterance as in the paper, and speaker folds:
leave-one-speaker-out up to 10 speakers, 10 speaker groups above) into
`out/<row>_<protocol>/`; `out/README.md` puts the paper's figure beside ours.
Rows whose corpora are missing are listed as not run. Rows marked "added" are
not in the paper: the nearest real transfers that run on the corpora we have
(EMO-DB speakers of one sex → the other, RAVDESS → EMO-DB), with their
no-transfer references.

A finished run (results.json holding the same config) is reused, and PathNet
runs resume finished folds, so an interrupted reproduce continues. A transfer
row's second protocol starts from the first one's final source checkpoint
(the source task does not depend on the target's folds).
"""
from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import os
import shutil
import sys
from typing import Any, Callable, Sequence

from absl import app
from absl import flags
from absl import logging

from experiments import data
from experiments import finetune
from experiments import train
from pathnet_jax import metrics

PROTOCOLS = ('random_kfold', 'speaker_kfold')
# Fold counts per protocol: the paper's 5 folds; speaker folds are
# leave-one-speaker-out up to this many speakers, speaker groups above it.
N_SPLITS = {'random_kfold': 5, 'speaker_kfold': 10}


@dataclasses.dataclass(frozen=True)
class Row:
  """A table row: config module `experiments.configs.<name>`.

  method: 'pathnet' (experiments.train) or 'finetune' (experiments.finetune);
  paper: the paper's overall accuracy ('' for added rows); note: why an
  added row exists or how ours differs.
  """
  name: str
  label: str
  method: str
  paper: str = ''
  note: str = ''

  @property
  def added(self) -> bool:
    return not self.paper


FT_NOTE = 'CNN pre-trained on the source corpus (no ImageNet weights here)'
ROWS = (
    Row('a_emo', 'A_EMO', 'pathnet', '0.89'),
    Row('a_enter_sav_emo', 'A_eNTER+SAV→EMO', 'pathnet', '0.97'),
    Row('a_emo_ft', 'A_EMO fine-tuning', 'finetune', '0.83',
        FT_NOTE + ': eNTERFACE+SAVEE'),
    Row('a_sav_ft', 'A_SAV fine-tuning', 'finetune', '0.69',
        FT_NOTE + ': eNTERFACE'),
    Row('v_sav_ft', 'V_SAV fine-tuning', 'finetune', '0.85',
        FT_NOTE + ': eNTERFACE'),
    Row('v_enter_ft', 'V_eNTER fine-tuning', 'finetune', '0.88',
        FT_NOTE + ': SAVEE'),
    Row('v_sav', 'V_SAV', 'pathnet', '0.89'),
    Row('v_enter', 'V_eNTER', 'pathnet', '0.88'),
    Row('v_enter_sav', 'V_eNTER→SAV', 'pathnet', '0.94'),
    Row('v_sav_enter', 'V_SAV→eNTER', 'pathnet', '0.94'),
    Row('a_sav', 'A_SAV', 'pathnet', '0.81'),
    Row('a_enter_sav', 'A_eNTER→SAV', 'pathnet', '0.85 (Table 3: 0.71)'),
    Row('emodb_f2m', 'A_EMO♀→♂', 'pathnet',
        note='added: nearest transfer on EMO-DB alone (female → male)'),
    Row('emodb_m', 'A_EMO♂', 'pathnet',
        note='added: no-transfer reference for A_EMO♀→♂'),
    Row('emodb_f2m_ft', 'A_EMO♀→♂ fine-tuning', 'finetune',
        note='added: CNN pre-trained on the female speakers'),
    Row('emodb_m2f', 'A_EMO♂→♀', 'pathnet',
        note='added: nearest transfer on EMO-DB alone (male → female)'),
    Row('emodb_f', 'A_EMO♀', 'pathnet',
        note='added: no-transfer reference for A_EMO♂→♀'),
    Row('emodb_m2f_ft', 'A_EMO♂→♀ fine-tuning', 'finetune',
        note='added: CNN pre-trained on the male speakers'),
    Row('a_emo_cnn', 'A_EMO CNN, no pre-training', 'finetune',
        note='added: nearest to A_EMO fine-tuning without a source corpus'),
    Row('a_rav_emo', 'A_RAV→EMO', 'pathnet',
        note='added: nearest audio transfer to A_eNTER+SAV→EMO'),
)
ROW_NAMES = tuple(r.name for r in ROWS)


# --------------------------------------------------------------------------
# Configs.


def row_config(row: Row):
  """The row's config, from experiments/configs/<name>.py."""
  return importlib.import_module(f'experiments.configs.{row.name}').get_config()


def specs(row: Row, config) -> tuple[str, ...]:
  """Target and source corpus specs of a row's config."""
  if row.method == 'finetune':
    return (config.target,) + ((config.source,) if config.source else ())
  return (config.target,) + tuple(config.sources)


def to_synthetic(spec: str) -> str:
  """Every corpus of a spec → the synthetic one, keeping the filters:
  'enterface+savee' -> 'synthetic', 'emodb:sex=f' -> 'synthetic:sex=f'."""
  parts = []
  for part in spec.split('+'):
    _, colon, filters = part.partition(':')
    new = 'synthetic' + colon + filters
    if new not in parts:
      parts.append(new)
  return '+'.join(parts)


def run_config(row: Row, protocol: str, *, data_root: str, cache_dir: str,
               generations: int = 0, max_folds: int = 0, epochs: int = 0,
               synthetic: bool = False):
  """The row's config set up for one protocol and the command's options."""
  c = row_config(row)
  c.protocol = protocol
  c.n_splits = N_SPLITS[protocol]
  c.data_root, c.cache_dir = data_root, cache_dir
  if synthetic:
    c.target = to_synthetic(c.target)
    if row.method == 'finetune':
      c.source = to_synthetic(c.source) if c.source else c.source
    else:
      c.sources = tuple(dict.fromkeys(map(to_synthetic, c.sources)))
  if row.method == 'finetune':
    c.max_folds = max_folds or c.max_folds
    if epochs:
      c.epochs = c.pretrain_epochs = epochs
  else:
    c.max_folds = max_folds
    if generations:
      c.evolution.generations = generations
  return c


# --------------------------------------------------------------------------
# Corpora.


def corpus_available(name: str, data_root: str, modality: str) -> bool:
  """Whether `data_root/name` holds `modality` recordings of that corpus."""
  from data_prep import corpora  # pylint: disable=g-import-not-at-top
  root = os.path.join(data_root, name)
  if not os.path.isdir(root):
    return False
  try:
    return bool(corpora.get(name).records(root, modality))
  except ValueError:  # CorpusError and unparsable layouts
    return False


def missing_corpora(row: Row, config, data_root: str) -> list[str]:
  """Corpora the row needs that are not under data_root (e.g. 'savee video')."""
  names = dict.fromkeys(n for s in specs(row, config)
                        for n in data.corpus_names(s))
  return [f'{n} ({config.modality})' for n in names
          if n != 'synthetic' and not n.endswith('.npz') and
          not corpus_available(n, data_root, config.modality)]


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


# --------------------------------------------------------------------------
# Runs.


def _same_config(results_path: str, config) -> bool:
  if not os.path.isfile(results_path):
    return False
  with open(results_path) as f:
    old = json.load(f).get('config')
  new = json.loads(json.dumps(metrics.jsonable(config.to_dict())))
  return old == new


def run_one(row: Row, config, workdir: str) -> dict[str, Any]:
  """train/finetune.train_and_evaluate into workdir, or its earlier results
  (as plain JSON values either way)."""
  path = os.path.join(workdir, 'results.json')
  if _same_config(path, config):
    logging.info('%s: reusing finished run', workdir)
    with open(path) as f:
      return json.load(f)
  print(f'== {row.name} ({config.protocol}) → {workdir}', flush=True)
  method = finetune if row.method == 'finetune' else train
  results = method.train_and_evaluate(config, workdir)
  return json.loads(json.dumps(metrics.jsonable(results)))  # as if reloaded


def share_source(row: Row, config, done_workdir: str | None,
                 workdir: str) -> bool:
  """Seeds workdir with the source evolution of a finished protocol.

  The source is evolved on all of the source corpora with the same key
  whatever the target's protocol, so a second protocol resumes the first
  one's final source checkpoint instead of evolving it again.
  """
  if row.method != 'pathnet' or config.task == 'scratch' or not done_workdir:
    return False
  src = os.path.join(done_workdir, 'source')
  dst = os.path.join(workdir, 'source')
  if not os.path.isdir(src) or os.path.exists(dst):
    return False
  shutil.copytree(src, dst)
  return True


def score_cells(results: dict[str, Any], link: str) -> list[str]:
  """[utterance WA, utterance UA, segment WA] as 'mean ± std' cells."""
  agg = results['aggregate']
  cell = lambda d, k: f"{d[k + '_mean']:.3f} ± {d[k + '_std']:.3f}"
  return [f"[{cell(agg['utterance'], 'wa')}]({link})",
          cell(agg['utterance'], 'ua'), cell(agg['segment'], 'wa')]


def reproduce(out: str, *, data_root: str, rows: Sequence[str] = ROW_NAMES,
              protocols: Sequence[str] = PROTOCOLS, generations: int = 0,
              max_folds: int = 0, epochs: int = 0, synthetic: bool = False,
              cache_dir: str = 'features',
              adjust: Callable[[Row, Any], None] | None = None
              ) -> dict[str, dict[str, Any]]:
  """Runs the rows and writes out/README.md.

  Args:
    out: output folder; each run goes to out/<row>_<protocol>/.
    data_root: folder holding the corpora's folders.
    rows: row names (see ROWS), in any order; the table keeps ROWS' order.
    protocols: subset of PROTOCOLS.
    generations, max_folds, epochs: overrides for quick runs (0 = config's).
    synthetic: map every corpus to the built-in synthetic one (smoke tests).
    cache_dir: feature cache.
    adjust: optional callback(row, config) changing a run's config in place
      (e.g. tiny models in tests).

  Returns:
    {row name: {'missing': [...], 'runs': {protocol: results or
    {'error': message}}}}.
  """
  unknown = sorted(set(rows) - set(ROW_NAMES))
  if unknown:
    raise ValueError(f'unknown rows {unknown}; valid: {", ".join(ROW_NAMES)}')
  bad = sorted(set(protocols) - set(PROTOCOLS))
  if bad or not protocols:
    raise ValueError(f'protocols must be among {PROTOCOLS}, got {protocols}')
  if not synthetic and not os.path.isdir(data_root):
    raise FileNotFoundError(f'--data_root {data_root!r} is not a directory')
  os.makedirs(out, exist_ok=True)
  outcome = {}
  for row in (r for r in ROWS if r.name in rows):
    entry = {'missing': [], 'runs': {}}
    outcome[row.name] = entry
    done = None  # workdir of a finished protocol of this row
    for protocol in protocols:
      config = run_config(row, protocol, data_root=data_root,
                          cache_dir=cache_dir, generations=generations,
                          max_folds=max_folds, epochs=epochs,
                          synthetic=synthetic)
      if adjust is not None:
        adjust(row, config)
      entry['missing'] = missing_corpora(row, config, data_root)
      if entry['missing']:
        break
      workdir = os.path.join(out, f'{row.name}_{protocol}')
      try:
        share_source(row, config, done, workdir)
        entry['runs'][protocol] = run_one(row, config, workdir)
        done = workdir
      except (ValueError, FileNotFoundError) as e:
        print(f'error: {row.name} ({protocol}): {e}', file=sys.stderr)
        entry['runs'][protocol] = {'error': str(e)}
  with open(os.path.join(out, 'README.md'), 'w') as f:
    f.write(readme(outcome, protocols, data_root=data_root,
                   generations=generations, max_folds=max_folds,
                   epochs=epochs, synthetic=synthetic))
  return outcome


def readme(outcome: dict[str, dict[str, Any]], protocols: Sequence[str], *,
           data_root: str, generations: int, max_folds: int, epochs: int,
           synthetic: bool) -> str:
  """The comparison table (markdown)."""
  by_name = {r.name: r for r in ROWS}
  head = ['row', 'method', 'paper']
  for p in protocols:
    head += [f'{p}: utterance WA', 'utterance UA', 'segment WA']
  head.append('notes')
  lines = [
      '# Nguyen et al. (2023) reproduced', '',
      'Overall accuracy. *paper*: their figure (random 5-fold). *Ours*: mean '
      '± std over folds of weighted accuracy (WA = overall accuracy) and '
      'unweighted accuracy (UA = mean per-class recall), at utterance level '
      '(mean of segment log-probabilities) and segment level. '
      '`random_kfold`: 5 folds stratified by emotion, split by utterance (the '
      'paper); `speaker_kfold`: leave-one-speaker-out (10 speaker groups for '
      'corpora with more speakers). Each WA links to the run\'s summary '
      '(confusion.png and fitness.png sit beside it).', '']
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
      res = entry['runs'].get(p)
      if res is None or 'error' in res:
        cells += ['—'] * 3
        if res is not None:
          notes.append(f"{p} failed: {res['error']}")
      else:
        cells += score_cells(res, f'{name}_{p}/summary.md')
    cells.append('; '.join(notes))
    lines.append('| ' + ' | '.join(c.replace('|', '/') for c in cells) + ' |')
  settings = (f'{generations} generations' if generations else
              'the generations of each config (the paper: 200)')
  lines += ['', f'Settings: experiments/configs/<row>.py with {settings}; the '
            "PathNet rows use the paper's hyper-parameters (configs/default.py)"
            ', the CNN rows configs/finetune.py.']
  if synthetic:
    lines += ['', 'Every corpus was replaced by the built-in synthetic one.']
  else:
    corpora_lines = corpus_notes(data_root)
    lines += ['', f'Data root `{data_root}`' + (':' if corpora_lines else
                                                 ': no corpus found.')]
    lines += corpora_lines
  lines += ['', f'git commit {train.git_commit()}, written '
            f'{datetime.datetime.now().isoformat(timespec="minutes")}.', '']
  return '\n'.join(lines)


# --------------------------------------------------------------------------
# Command line.


def define_flags() -> None:
  flags.DEFINE_string('data_root', os.path.join('..', 'shared', 'data'),
                      'Folder holding emodb/, savee/, enterface/, ravdess/.')
  flags.DEFINE_string('out', 'results', 'Output folder.')
  flags.DEFINE_list('rows', list(ROW_NAMES), 'Rows to run: '
                    + ','.join(ROW_NAMES))
  flags.DEFINE_list('protocols', list(PROTOCOLS), 'Evaluation protocols.')
  flags.DEFINE_integer('generations', 0, 'PathNet generations (0: config).')
  flags.DEFINE_integer('max_folds', 0, 'Run only the first k folds (0: all).')
  flags.DEFINE_integer('epochs', 0, 'CNN pre-training and fine-tuning epochs '
                       '(0: config).')
  flags.DEFINE_bool('synthetic', False, 'Use the synthetic corpus for every '
                    'corpus (a smoke test of the whole table).')
  flags.DEFINE_string('cache_dir', 'features', 'Feature cache folder.')


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  try:
    reproduce(f.out, data_root=f.data_root, rows=f.rows,
              protocols=f.protocols, generations=f.generations,
              max_folds=f.max_folds, epochs=f.epochs, synthetic=f.synthetic,
              cache_dir=f.cache_dir)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f'error: {e}')
  print(f"wrote {os.path.join(f.out, 'README.md')}")


if __name__ == '__main__':
  define_flags()
  app.run(main)
