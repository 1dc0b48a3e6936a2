"""Runs the table's rows (experiments/lib/rows.py) and writes the README
(experiments/lib/reproduce_readme.py): each row's config for each protocol,
training fraction and the seeds, run into its own folder, or reused.

A row's seeds run as ONE batch: PathNet through config.seeds, the CNN
through its config.seeds, every (seed, fold) of a protocol in one program;
each seed's results then lie in `<run folder>/seed_<s>/`.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any, Callable, Sequence

from absl import logging

from data_prep import labels
from experiments.configs import improved
from experiments.lib import configs
from experiments.lib import data
from experiments.lib import finetune
from experiments.lib import outputs
from experiments.lib import pathnet_protocol
from experiments.lib import reproduce_readme
from experiments.lib import rows as rows_lib
from experiments.lib import workdir as workdir_lib
from pathnet_jax import metrics

PROTOCOLS = ('random_kfold', 'speaker_kfold')
# Held while a reproduce writes its output folder.
LOCK_NAME = 'reproduce.lock'
# Fold counts per protocol: the paper's 5 folds; speaker folds are
# leave-one-speaker-out up to this many speakers (EMO-DB 10, the shared
# RAVDESS actors 01–12, SAVEE 4), speaker groups above it (eNTERFACE's 44
# subjects, all 24 RAVDESS actors), so a row's cost stays bounded.
N_SPLITS = {'random_kfold': 5, 'speaker_kfold': 12}


# --------------------------------------------------------------------------
# Configs.


def run_config(row: rows_lib.Row, protocol: str, *, data_root: str,
               cache_dir: str, generations: int = 0, max_folds: int = 0,
               epochs: int = 0, synthetic: bool = False,
               seeds: Sequence[int] = (0,), train_fraction: float = 1.0,
               pathnet: str = 'paper', classes: Sequence[str] = (),
               on_error: str = data.DEFAULT_ON_ERROR,
               max_skipped_fraction_files: float =
               data.DEFAULT_MAX_SKIPPED_FRACTION, seed: int | None = None):
  """The row's config set up for one protocol and the command's options.

  seeds: one seed is config.seed; several are config.seeds (one batch, the
  first also config.seed). seed: shorthand for seeds=(seed,).
  pathnet 'improved' turns PathNet rows into configs/improved.py's variant;
  classes (non-empty) keeps only those classes in target and sources;
  on_error and max_skipped_fraction_files: experiments/lib/data.py.
  """
  if seed is not None:
    seeds = (seed,)
  c = rows_lib.row_config(row)
  if pathnet not in ('paper', 'improved'):
    raise ValueError(f"pathnet must be 'paper' or 'improved', got {pathnet!r}")
  if pathnet == 'improved' and row.method == 'pathnet':
    improved.apply(c)
  c.seed = int(seeds[0])
  c.seeds = tuple(int(s) for s in seeds) if len(seeds) > 1 else ()
  c.train_fraction = float(train_fraction)
  finetuned = row.method == 'finetune'
  if classes:
    c.target = data.with_labels(c.target, classes)
    if finetuned:
      c.source = data.with_labels(c.source, classes) if c.source else c.source
    else:
      c.sources = tuple(data.with_labels(s, classes) for s in c.sources)
  c.protocol = protocol
  c.n_splits = N_SPLITS[protocol]
  c.data_root, c.cache_dir = data_root, cache_dir
  c.on_error = on_error
  c.max_skipped_fraction_files = float(max_skipped_fraction_files)
  if synthetic:
    c.target = rows_lib.to_synthetic(c.target)
    if finetuned:
      c.source = rows_lib.to_synthetic(c.source) if c.source else c.source
    else:
      c.sources = tuple(dict.fromkeys(map(rows_lib.to_synthetic, c.sources)))
  c.max_folds = max_folds
  if finetuned and epochs:
    c.epochs = c.pretrain_epochs = epochs
  if not finetuned and generations:
    c.evolution.generations = generations
  return c


# --------------------------------------------------------------------------
# Runs.


def run_dir(out: str, row: str, protocol: str, seeds: Sequence[int] = (0,),
            fraction: float = 1.0) -> str:
  """out/<row>_<protocol>[_seed<s> | _seeds<a>-<b>...][_frac<f>] (seed 0 at
  the full training folds keeps the plain name, so earlier results are
  reused)."""
  name = f'{row}_{protocol}'
  if len(seeds) > 1:
    name += '_seeds' + '-'.join(map(str, seeds))
  elif seeds[0]:
    name += f'_seed{seeds[0]}'
  if fraction != 1:
    name += f'_frac{fraction:g}'
  return os.path.join(out, name)


def _same_config(row: rows_lib.Row, results_path: str, config) -> bool:
  if not os.path.isfile(results_path):
    return False
  with open(results_path) as f:
    old = json.load(f).get('config')
  if old is None:
    return False
  new = json.loads(json.dumps(metrics.jsonable(config.to_dict())))
  if row.method == 'finetune':  # older CNN configs: today's field names
    return (finetune.upgrade_recorded(old) ==
            finetune.upgrade_recorded(new))
  return not configs.config_changes(old, new, ignore=())


def run_one(row: rows_lib.Row, config, workdir: str) -> dict[str, Any]:
  """The row's protocol into workdir, or its earlier results (as plain
  JSON values either way)."""
  path = os.path.join(workdir, 'results.json')
  if _same_config(row, path, config):
    logging.info('%s: reusing finished run', workdir)
    with open(path) as f:
      return json.load(f)
  print(f'== {row.name} ({config.protocol}) → {workdir}', flush=True)
  run = (finetune.train_and_evaluate if row.method == 'finetune'
         else pathnet_protocol.train_and_evaluate)
  results = run(config, workdir)
  return json.loads(json.dumps(metrics.jsonable(results)))  # as if reloaded


def per_seed(results: dict[str, Any], workdir: str) -> dict[int, dict]:
  """seed -> that seed's results: the run's own for one seed, each
  `seed_<s>/results.json` for a batch of seeds."""
  if 'per_seed' not in results:
    return {int(results['seed']): results}
  out = {}
  for seed, entry in results['per_seed'].items():
    with open(os.path.join(workdir, entry['results'])) as f:
      out[int(seed)] = json.load(f)
  return out


def share_source(row: rows_lib.Row, config, done_workdir: str | None,
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


def check_options(rows: Sequence[str], protocols: Sequence[str],
                  seeds: Sequence[int], train_fractions: Sequence[float],
                  on_error: str, max_skipped_fraction_files: float) -> None:
  """One clear error for a bad option, before any run."""
  unknown = sorted(set(rows) - set(rows_lib.ROW_NAMES))
  if unknown:
    raise ValueError(f'unknown rows {unknown}; valid: '
                     f'{", ".join(rows_lib.ROW_NAMES)}, or the groups '
                     f'{", ".join(rows_lib.GROUPS)}')
  bad = sorted(set(protocols) - set(PROTOCOLS))
  if bad or not protocols:
    raise ValueError(f'protocols must be among {PROTOCOLS}, got {protocols}')
  if not seeds or not train_fractions:
    raise ValueError('need at least one seed and one train fraction')
  if len(set(seeds)) != len(seeds):
    raise ValueError(f'seeds repeat a value: {list(seeds)}')
  if not all(0 < f <= 1 for f in train_fractions):
    raise ValueError(f'train fractions must be in (0, 1], got '
                     f'{list(train_fractions)}')
  data.skip_settings({'on_error': on_error,  # a bad value fails at once
                      'max_skipped_fraction_files': max_skipped_fraction_files})


def reproduce(out: str, *, data_root: str,
              rows: Sequence[str] = rows_lib.ROW_NAMES,
              protocols: Sequence[str] = PROTOCOLS, generations: int = 0,
              max_folds: int = 0, epochs: int = 0, synthetic: bool = False,
              cache_dir: str = 'features',
              adjust: Callable[[rows_lib.Row, Any], None] | None = None,
              seeds: Sequence[int] = (0,),
              train_fractions: Sequence[float] = (1.0,),
              pathnet: str = 'paper', shared_classes_only: bool = False,
              on_error: str = data.DEFAULT_ON_ERROR,
              max_skipped_fraction_files: float =
              data.DEFAULT_MAX_SKIPPED_FRACTION
              ) -> dict[str, dict[str, Any]]:
  """Runs the rows and writes out/README.md.

  Args:
    out: output folder; each run goes to `run_dir(out, row, protocol, seeds,
      fraction)`.
    data_root: folder holding the corpora's folders.
    rows: row names (see rows.ROWS) or rows.GROUPS, in any order; the table
      keeps ROWS' order.
    protocols: subset of PROTOCOLS.
    generations, max_folds, epochs: overrides for quick runs (0 = config's).
    synthetic: map every corpus to the built-in synthetic one (smoke tests).
    cache_dir: feature cache.
    adjust: optional callback(row, config) changing a run's config in place
      (e.g. tiny models in tests).
    seeds: run seeds (folds and initialisation), one batch per run; the
      table pools them.
    train_fractions: shares of each training fold's utterances (learning
      curves); the table shows the largest.
    pathnet: 'paper' or 'improved' (configs/improved.py) for PathNet rows.
    shared_classes_only: keep only the classes common to every corpus of
      the chosen rows.
    on_error, max_skipped_fraction_files: what an unreadable corpus file
      does in every run (experiments/lib/data.py).

  Returns:
    {row name: an outcome entry (experiments/lib/reproduce_readme.py)}.
  """
  rows = rows_lib.expand_rows(rows)
  seeds = [int(s) for s in seeds]
  check_options(rows, protocols, seeds, train_fractions, on_error,
                max_skipped_fraction_files)
  if not synthetic and not os.path.isdir(data_root):
    raise FileNotFoundError(f'--data_root {data_root!r} is not a directory')
  classes = (labels.shared_classes(rows_lib.row_corpora(rows))
             if shared_classes_only else ())
  if shared_classes_only and not classes:
    raise ValueError('the chosen rows share no class')
  settings = dict(data_root=data_root, cache_dir=cache_dir,
                  generations=generations, max_folds=max_folds, epochs=epochs,
                  synthetic=synthetic, seeds=seeds, pathnet=pathnet,
                  classes=classes, on_error=on_error,
                  max_skipped_fraction_files=max_skipped_fraction_files)
  # One reproduce per output folder: a second one would race on README.md
  # and on the runs' sources (each run's own workdir is locked as well).
  with workdir_lib.exclusive(out, lock_name=LOCK_NAME,
                             what='reproduce output folder'):
    outcome = {row.name: run_row(row, out, protocols, train_fractions,
                                 adjust, settings)
               for row in rows_lib.ROWS if row.name in rows}
    curves = (reproduce_readme.learning_curves(outcome, out, protocols)
              if len(train_fractions) > 1 else [])
    text = reproduce_readme.readme(
        outcome, protocols, data_root=data_root, generations=generations,
        max_folds=max_folds, epochs=epochs, synthetic=synthetic, seeds=seeds,
        pathnet=pathnet, classes=classes, curves=curves, commit=outputs.git_commit())
    _write_text(os.path.join(out, 'README.md'), text)
    return outcome


def _write_text(path: str, text: str) -> None:
  def write(tmp):
    with open(tmp, 'w', encoding='utf-8') as f:
      f.write(text)
  workdir_lib.write_atomically(path, write)


def run_row(row: rows_lib.Row, out: str, protocols: Sequence[str],
            train_fractions: Sequence[float], adjust,
            settings: dict[str, Any]) -> dict[str, Any]:
  """One row's outcome entry: its protocols x fractions, each a batch of
  the seeds (or its missing corpora, or each run's error)."""
  entry = {'missing': [], 'runs': {}, 'seeds': {}, 'curve': {}, 'dirs': {}}
  full = max(train_fractions)
  done = None  # workdir of a finished run (its source is reusable)
  for protocol in protocols:
    for fraction in sorted(train_fractions, reverse=True):
      config = run_config(row, protocol, train_fraction=fraction, **settings)
      if adjust is not None:
        adjust(row, config)
      entry['missing'] = rows_lib.missing_corpora(row, config,
                                                  settings['data_root'])
      if entry['missing']:
        return entry
      workdir = run_dir(out, row.name, protocol, settings['seeds'], fraction)
      try:
        share_source(row, config, done, workdir)
        by_seed = per_seed(run_one(row, config, workdir), workdir)
        done = done or workdir
      except (ValueError, FileNotFoundError) as e:
        message = data.as_flags(str(e))
        print(f'error: {row.name} ({protocol}): {message}', file=sys.stderr)
        by_seed = {s: {'error': message} for s in settings['seeds']}
      entry['curve'].setdefault(protocol, {})[fraction] = by_seed
      if fraction == full:
        entry['seeds'][protocol] = by_seed
        entry['runs'][protocol] = by_seed[settings['seeds'][0]]
        entry['dirs'][protocol] = os.path.basename(workdir)
  return entry
