r"""Runs the paper's table rows on the corpora present and writes a comparison.

  python -m experiments.reproduce --data_root=../shared/data --out=results
  # a quick look (not comparable with the paper):
  python -m experiments.reproduce --rows=a_emo,emodb_f2m --generations=5 \
      --max_folds=1 --out=results_quick

Every row of Nguyen et al. (2023) whose corpora are under --data_root
(emodb/, savee/, enterface/, ravdess/ in their standard layouts) runs under
both protocols (random 5-fold by utterance as in the paper, and speaker folds:
leave-one-speaker-out up to 12 speakers, 12 speaker groups above) into
`out/<row>_<protocol>/`; `out/README.md` puts the paper's figure beside ours.
Rows whose corpora are missing are listed as not run. Rows marked "added" are
not in the paper: the nearest real transfers that run on the corpora we have
(EMO-DB speakers of one sex → the other, RAVDESS ⇄ EMO-DB, RAVDESS + EMO-DB
female → male), with their no-transfer and fine-tuning references.

The cross-corpus comparison of issue 12 (`--rows=cross_corpus` runs its rows):
  python -m experiments.reproduce --rows=cross_corpus --seeds=0,1,2 \
      --out=results_cross [--pathnet=improved] [--shared_classes_only]
  # learning curves: each training fold cut to these shares of utterances
  python -m experiments.reproduce --rows=cross_corpus \
      --train_fractions=0.1,0.25,0.5,1 --out=results_curves
Several seeds: the table pools every (seed, fold) score; a gains table pairs
each transfer row with its references over the same seeds and folds (mean ±
std of the utterance-UA difference, paired t-test). `--shared_classes_only`
keeps, in every run, only the classes common to all corpora of the chosen
rows (RAVDESS and EMO-DB: neutral, anger, disgust, fear, happiness, sadness).

`--on_error=skip` leaves unreadable corpus files out of every run (each
run's results.json lists them), up to `--max_skipped_fraction_files` of a
corpus.

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
import numpy as np
from scipy import stats as scipy_stats

from data_prep import labels
from experiments.lib import cli
from experiments.lib import data
from experiments import finetune
from experiments.lib import plots
from experiments import train
from experiments.lib import workdir as workdir_lib
from experiments.configs import improved
from pathnet_jax import metrics

PROTOCOLS = ('random_kfold', 'speaker_kfold')
# Held while a reproduce writes its output folder.
LOCK_NAME = 'reproduce.lock'
# Fold counts per protocol: the paper's 5 folds; speaker folds are
# leave-one-speaker-out up to this many speakers (EMO-DB 10, the shared
# RAVDESS actors 01–12, SAVEE 4), speaker groups above it (eNTERFACE's 44
# subjects, all 24 RAVDESS actors), so a row's cost stays bounded.
N_SPLITS = {'random_kfold': 5, 'speaker_kfold': 12}


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
    Row('a_rav_emo_ft', 'A_RAV→EMO fine-tuning', 'finetune',
        note='added: ' + FT_NOTE + ': RAVDESS'),
    Row('a_rav', 'A_RAV', 'pathnet',
        note='added: no-transfer reference for A_EMO→RAV'),
    Row('a_emo_rav', 'A_EMO→RAV', 'pathnet',
        note='added: EMO-DB → RAVDESS'),
    Row('a_emo_rav_ft', 'A_EMO→RAV fine-tuning', 'finetune',
        note='added: ' + FT_NOTE + ': EMO-DB'),
    Row('a_rav_cnn', 'A_RAV CNN, no pre-training', 'finetune',
        note='added: reference for A_EMO→RAV fine-tuning'),
    Row('a_rav_emom', 'A_RAV→EMO♂', 'pathnet',
        note='added: single-source reference for A_RAV+EMO♀→EMO♂'),
    Row('a_rav_emof_emom', 'A_RAV+EMO♀→EMO♂', 'pathnet',
        note='added: multi-source, RAVDESS and EMO-DB female speakers pooled'),
)
ROW_NAMES = tuple(r.name for r in ROWS)
# Row groups a --rows list may name.
GROUPS = {
    'cross_corpus': ('a_emo', 'a_emo_cnn', 'a_rav_emo', 'a_rav_emo_ft',
                     'a_rav', 'a_rav_cnn', 'a_emo_rav', 'a_emo_rav_ft',
                     'emodb_m', 'emodb_f2m', 'a_rav_emom', 'a_rav_emof_emom'),
}
# (row, reference): the gains table compares them over the same target folds.
GAINS = (
    ('a_rav_emo', 'a_emo'), ('a_rav_emo', 'a_rav_emo_ft'),
    ('a_rav_emo_ft', 'a_emo_cnn'),
    ('a_emo_rav', 'a_rav'), ('a_emo_rav', 'a_emo_rav_ft'),
    ('a_emo_rav_ft', 'a_rav_cnn'),
    ('a_rav_emof_emom', 'emodb_m'), ('a_rav_emof_emom', 'a_rav_emom'),
    ('a_rav_emof_emom', 'emodb_f2m'), ('emodb_f2m', 'emodb_m'),
    ('a_rav_emom', 'emodb_m'),
)


def expand_rows(names: Sequence[str]) -> list[str]:
  """Row names with GROUPS expanded, duplicates dropped, order kept."""
  out = []
  for name in names:
    out += [n for n in GROUPS.get(name, (name,)) if n not in out]
  return out


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
               synthetic: bool = False, seed: int = 0,
               train_fraction: float = 1.0, pathnet: str = 'paper',
               classes: Sequence[str] = (),
               on_error: str = data.DEFAULT_ON_ERROR,
               max_skipped_fraction_files: float =
               data.DEFAULT_MAX_SKIPPED_FRACTION):
  """The row's config set up for one protocol and the command's options.

  pathnet 'improved' turns PathNet rows into configs/improved.py's variant;
  classes (non-empty) keeps only those classes in target and sources;
  on_error and max_skipped_fraction_files: experiments/lib/data.py.
  """
  c = row_config(row)
  if pathnet not in ('paper', 'improved'):
    raise ValueError(f"pathnet must be 'paper' or 'improved', got {pathnet!r}")
  if pathnet == 'improved' and row.method == 'pathnet':
    improved.apply(c)
  c.seed = seed
  c.train_fraction = float(train_fraction)
  if classes:
    c.target = data.with_labels(c.target, classes)
    if row.method == 'finetune':
      c.source = data.with_labels(c.source, classes) if c.source else c.source
    else:
      c.sources = tuple(data.with_labels(s, classes) for s in c.sources)
  c.protocol = protocol
  c.n_splits = N_SPLITS[protocol]
  c.data_root, c.cache_dir = data_root, cache_dir
  c.on_error = on_error
  c.max_skipped_fraction_files = float(max_skipped_fraction_files)
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
  """Whether `data_root/name` (or the manifest 'manifest:PATH.csv') holds
  `modality` recordings of that corpus."""
  from data_prep import corpora  # pylint: disable=g-import-not-at-top
  root = None if corpora.is_manifest(name) else os.path.join(data_root, name)
  if root is not None and not os.path.isdir(root):
    return False
  try:
    return bool(corpora.read(name, root, modality))
  except ValueError:  # CorpusError, bad manifests and unparsable layouts
    return False


def row_corpora(names: Sequence[str]) -> list[str]:
  """Corpora with a reader that the named rows read (configs' specs)."""
  by_name = {r.name: r for r in ROWS}
  out = []
  for name in names:
    row = by_name[name]
    for spec in specs(row, row_config(row)):
      out += [n for n in data.corpus_names(spec)
              if n in labels.BY_CORPUS and n not in out]
  return out


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
  return old is not None and not train.config_changes(old, config.to_dict(),
                                                      ignore=())


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


def run_dir(out: str, row: str, protocol: str, seed: int = 0,
            fraction: float = 1.0) -> str:
  """out/<row>_<protocol>[_seed<s>][_frac<f>] (seed 0 at the full training
  folds keeps the plain name, so earlier results are reused)."""
  name = f'{row}_{protocol}'
  if seed:
    name += f'_seed{seed}'
  if fraction != 1:
    name += f'_frac{fraction:g}'
  return os.path.join(out, name)


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
    {'n', 'mean', 'std', 'wins', 'p'} of the per-pair differences of the
    utterance-level `metric` (p: two-sided paired t-test, nan when n < 2 or
    every difference is equal), or None without common pairs.
  """
  a, b = fold_scores(runs), fold_scores(reference)
  pairs = sorted(set(a) & set(b))
  if not pairs:
    return None
  diff = np.asarray([a[k][metric] - b[k][metric] for k in pairs])
  p = float('nan')
  if diff.size > 1 and np.ptp(diff) > 0:
    p = float(scipy_stats.ttest_rel([a[k][metric] for k in pairs],
                                    [b[k][metric] for k in pairs]).pvalue)
  return {'n': int(diff.size), 'mean': float(diff.mean()),
          'std': float(diff.std()), 'wins': int(np.sum(diff > 0)), 'p': p}


def reproduce(out: str, *, data_root: str, rows: Sequence[str] = ROW_NAMES,
              protocols: Sequence[str] = PROTOCOLS, generations: int = 0,
              max_folds: int = 0, epochs: int = 0, synthetic: bool = False,
              cache_dir: str = 'features',
              adjust: Callable[[Row, Any], None] | None = None,
              seeds: Sequence[int] = (0,),
              train_fractions: Sequence[float] = (1.0,),
              pathnet: str = 'paper', shared_classes_only: bool = False,
              on_error: str = data.DEFAULT_ON_ERROR,
              max_skipped_fraction_files: float =
              data.DEFAULT_MAX_SKIPPED_FRACTION
              ) -> dict[str, dict[str, Any]]:
  """Runs the rows and writes out/README.md.

  Args:
    out: output folder; each run goes to `run_dir(out, row, protocol, seed,
      fraction)`.
    data_root: folder holding the corpora's folders.
    rows: row names (see ROWS) or GROUPS, in any order; the table keeps ROWS'
      order.
    protocols: subset of PROTOCOLS.
    generations, max_folds, epochs: overrides for quick runs (0 = config's).
    synthetic: map every corpus to the built-in synthetic one (smoke tests).
    cache_dir: feature cache.
    adjust: optional callback(row, config) changing a run's config in place
      (e.g. tiny models in tests).
    seeds: run seeds (folds and initialisation); the table pools them.
    train_fractions: shares of each training fold's utterances (learning
      curves); the table shows the largest.
    pathnet: 'paper' or 'improved' (configs/improved.py) for PathNet rows.
    shared_classes_only: keep only the classes common to every corpus of
      the chosen rows.
    on_error, max_skipped_fraction_files: what an unreadable corpus file
      does in every run (experiments/lib/data.py).

  Returns:
    {row name: {'missing': [...], 'runs': {protocol: results of the first
    seed, or {'error': message}}, 'seeds': {protocol: {seed: results}},
    'curve': {protocol: {fraction: {seed: results}}}}}.
  """
  rows = expand_rows(rows)
  unknown = sorted(set(rows) - set(ROW_NAMES))
  if unknown:
    raise ValueError(f'unknown rows {unknown}; valid: {", ".join(ROW_NAMES)}'
                     f', or the groups {", ".join(GROUPS)}')
  bad = sorted(set(protocols) - set(PROTOCOLS))
  if bad or not protocols:
    raise ValueError(f'protocols must be among {PROTOCOLS}, got {protocols}')
  if not seeds or not train_fractions:
    raise ValueError('need at least one seed and one train fraction')
  if not all(0 < f <= 1 for f in train_fractions):
    raise ValueError(f'train fractions must be in (0, 1], got '
                     f'{list(train_fractions)}')
  data.skip_settings({'on_error': on_error,  # a bad value fails at once
                      'max_skipped_fraction_files': max_skipped_fraction_files})
  if not synthetic and not os.path.isdir(data_root):
    raise FileNotFoundError(f'--data_root {data_root!r} is not a directory')
  classes = (labels.shared_classes(row_corpora(rows)) if shared_classes_only
             else ())
  if shared_classes_only and not classes:
    raise ValueError('the chosen rows share no class')
  full = max(train_fractions)
  # One reproduce per output folder: a second one would race on README.md
  # and on the runs' sources (each run's own workdir is locked as well).
  with workdir_lib.exclusive(out, lock_name=LOCK_NAME,
                             what='reproduce output folder'):
    outcome = {}
    for row in (r for r in ROWS if r.name in rows):
      entry = {'missing': [], 'runs': {}, 'seeds': {}, 'curve': {}}
      outcome[row.name] = entry
      done = {}  # seed -> workdir of a finished run (its source is reusable)
      for protocol in protocols:
        for fraction in sorted(train_fractions, reverse=True):
          for seed in seeds:
            config = run_config(row, protocol, data_root=data_root,
                                cache_dir=cache_dir, generations=generations,
                                max_folds=max_folds, epochs=epochs,
                                synthetic=synthetic, seed=seed,
                                train_fraction=fraction, pathnet=pathnet,
                                classes=classes, on_error=on_error,
                                max_skipped_fraction_files=(
                                    max_skipped_fraction_files))
            if adjust is not None:
              adjust(row, config)
            entry['missing'] = missing_corpora(row, config, data_root)
            if entry['missing']:
              break
            workdir = run_dir(out, row.name, protocol, seed, fraction)
            try:
              share_source(row, config, done.get(seed), workdir)
              results = run_one(row, config, workdir)
              done.setdefault(seed, workdir)
            except (ValueError, FileNotFoundError) as e:
              message = data.as_flags(str(e))
              print(f'error: {row.name} ({protocol}): {message}',
                    file=sys.stderr)
              results = {'error': message}
            entry['curve'].setdefault(protocol, {}).setdefault(
                fraction, {})[seed] = results
            if fraction == full:
              entry['seeds'].setdefault(protocol, {})[seed] = results
              entry['runs'].setdefault(protocol, results)
          if entry['missing']:
            break
        if entry['missing']:
          break
    curves = (learning_curves(outcome, out, protocols)
              if len(train_fractions) > 1 else [])
    text = readme(outcome, protocols, data_root=data_root,
                  generations=generations, max_folds=max_folds,
                  epochs=epochs, synthetic=synthetic, seeds=seeds,
                  pathnet=pathnet, classes=classes, curves=curves)
    train.write_text(os.path.join(out, 'README.md'), text)
    return outcome


def _ok(by_seed: dict[int, dict[str, Any]] | None) -> dict[int, dict]:
  """The seeds' runs that finished (no error entries)."""
  return {s: r for s, r in (by_seed or {}).items() if 'error' not in r}


def gains_lines(outcome: dict[str, dict[str, Any]],
                protocols: Sequence[str]) -> list[str]:
  """The markdown gains table of the GAINS pairs that both ran."""
  by_name = {r.name: r for r in ROWS}
  lines = []
  for row, ref in GAINS:
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
          'paired t-test p-value.', '',
          '| row | reference | protocol | UA gain | wins | p |',
          '|---|---|---|---|---|---|'] + lines


def learning_curves(outcome: dict[str, dict[str, Any]], out: str,
                    protocols: Sequence[str]) -> list[str]:
  """One PNG per (protocol, target) of utterance UA against the number of
  training utterances per fold, a line per row; markdown lines for them."""
  by_name = {r.name: r for r in ROWS}
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
           curves: Sequence[str] = ()) -> str:
  """The comparison table (markdown)."""
  by_name = {r.name: r for r in ROWS}
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
        first = os.path.basename(run_dir('', name, p, min(done)))
        cells += pooled_cells(done, f'{first}/summary.md')
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
                    + ','.join(ROW_NAMES) + '; or the groups '
                    + ','.join(GROUPS))
  flags.DEFINE_list('protocols', list(PROTOCOLS), 'Evaluation protocols.')
  flags.DEFINE_integer('generations', 0, 'PathNet generations (0: config).')
  flags.DEFINE_integer('max_folds', 0, 'Run only the first k folds (0: all).')
  flags.DEFINE_integer('epochs', 0, 'CNN pre-training and fine-tuning epochs '
                       '(0: config).')
  flags.DEFINE_bool('synthetic', False, 'Use the synthetic corpus for every '
                    'corpus (a smoke test of the whole table).')
  flags.DEFINE_string('cache_dir', 'features', 'Feature cache folder.')
  flags.DEFINE_list('seeds', ['0'], 'Run seeds (folds and initialisation).')
  flags.DEFINE_list('train_fractions', ['1'], 'Shares of each training '
                    "fold's utterances (learning curves), e.g. 0.1,0.25,0.5,1.")
  flags.DEFINE_enum('pathnet', 'paper', ['paper', 'improved'],
                    'PathNet rows: the paper config or configs/improved.py.')
  flags.DEFINE_bool('shared_classes_only', False, 'Keep only the classes '
                    'common to every corpus of the chosen rows.')
  flags.DEFINE_enum('on_error', data.DEFAULT_ON_ERROR, list(data.ON_ERROR),
                    'An unreadable corpus file: raise (that run stops, '
                    'naming it) or skip (left out, listed in its results).')
  flags.DEFINE_float('max_skipped_fraction_files',
                     data.DEFAULT_MAX_SKIPPED_FRACTION,
                     'With --on_error=skip: a run stops when more than this '
                     "share of a corpus's files is skipped.", lower_bound=0,
                     upper_bound=1)


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
              cache_dir=f.cache_dir, seeds=[int(v) for v in f.seeds],
              train_fractions=[float(v) for v in f.train_fractions],
              pathnet=f.pathnet, shared_classes_only=f.shared_classes_only,
              on_error=f.on_error,
              max_skipped_fraction_files=f.max_skipped_fraction_files)
  except ValueError as e:  # cli.run prints it; settings named as flags
    raise ValueError(data.as_flags(str(e))) from e
  print(f"wrote {os.path.join(f.out, 'README.md')}")


if __name__ == '__main__':
  define_flags()
  cli.run(main)
