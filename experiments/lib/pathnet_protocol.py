"""A PathNet experiment end to end: `train_and_evaluate(config, workdir)`
checks the config, reads the corpora, evolves the sources (transfer tasks)
and every (seed, fold) of the target as one batch each, scores the test
folds and writes results per seed (experiments/lib/outputs.py).

Task kinds (config.task):
  scratch       evolve on each training fold of config.target
  transfer      evolve on all of config.sources, freeze the best pathway,
                re-initialise the rest, evolve on each target training fold
  multi_source  the same with several sources pooled into one task
A rerun in the same workdir resumes: finished folds are read back, evolution
restarts from its checkpoints.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from typing import Any, Iterator

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np

from experiments.lib import cli
from experiments.lib import configs
from experiments.lib import controls
from experiments.lib import data
from experiments.lib import outputs
from experiments.lib import plots
from experiments.lib import progress
from experiments.lib import protocol
from experiments.lib import tensorboard
from experiments.lib import validate
from experiments.lib import views
from experiments.lib import workdir as workdir_lib
from pathnet_jax import augment as augment_lib
from pathnet_jax import metrics
from pathnet_jax import runs as runs_lib

LEVELS = ('segment', 'utterance')


@dataclasses.dataclass
class Experiment:
  """What each step of a run reads: its config and workdir, the target
  corpus `fs` and pooled sources `src` (None for scratch), their functionals
  for a view that uses them (else None), one TensorBoard writer per seed,
  the start time and the wall times so far."""
  config: Any
  workdir: str
  fs: Any
  src: Any
  funcs: Any
  src_funcs: Any
  start: float
  events: dict[int, Any] = dataclasses.field(default_factory=dict)
  timings: dict[str, float] = dataclasses.field(default_factory=dict)

  @property
  def seeds(self) -> list[int]:
    return protocol.seeds_of(self.config)


def load_task(config):
  """(target, pooled sources or None) as the run uses them.

  The sources are read for transfer tasks, and for a scratch run with
  config.shared_classes_only (its sources then only say which classes to
  keep, so that it runs on the same rows as its transfer counterpart).
  """
  target = data.load_corpus(config.target, config)
  shared = config.shared_classes_only
  if config.task == 'scratch' and not shared:
    return target, None
  source = data.load_corpus('+'.join(config.sources), config)
  if shared:
    target, source = data.restrict_to_shared(target, source)
  return target, source


def load_functionals(config, target, source):
  """(target's, source's or None) functionals for a view that uses them
  (experiments/lib/views.py), else (None, None)."""
  feature_set = views.of(config).functionals
  if feature_set is None:
    return None, None
  funcs = views.load_functionals(config.target, config, target, feature_set)
  if source is None:
    return funcs, None
  return funcs, views.load_functionals('+'.join(config.sources), config,
                                       source, feature_set)


def seed_dir(config, workdir: str, seed: int) -> str:
  """Where a seed's folds and results go: the workdir itself for a run of
  config.seed, `workdir/seed_<s>` for each of config.seeds."""
  return os.path.join(workdir, f'seed_{seed}') if config.seeds else workdir


def fold_scores_in_memory(scores: dict[str, Any]) -> dict[str, Any]:
  """A fold's scores with the per-level dicts in metrics' in-memory form
  (NaN, not None, for the recall of a class absent from the test fold)."""
  return {**scores, **{level: metrics.scores_from_json(scores[level])
                       for level in LEVELS}}


def read_finished_fold(scores_path: str, fold: int) -> dict[str, Any] | None:
  """The scores a finished fold wrote, or None when there are none or they
  do not read back whole (then the fold is recomputed, from its checkpoints
  where they survive, rather than trusted)."""
  if not os.path.exists(scores_path):
    return None
  try:
    with open(scores_path) as f:
      scores = fold_scores_in_memory(json.load(f))
    if scores['fold'] != fold:
      raise ValueError(f"it holds fold {scores['fold']}")
    return scores
  except (OSError, ValueError, KeyError, TypeError) as e:
    logging.warning('%s is unreadable (%s); recomputing fold %d', scores_path,
                    e, fold)
    return None


def finished_folds(config, fs, workdir: str) -> dict[tuple[int, int], dict]:
  """(seed, fold) -> scores of the chosen folds a rerun finds finished."""
  done = {}
  for seed in protocol.seeds_of(config):
    for i in protocol.fold_plan(config, fs, seed)[1]:
      path = os.path.join(seed_dir(config, workdir, seed), f'fold_{i}',
                          'scores.json')
      scores = read_finished_fold(path, i)
      if scores is not None:
        done[(seed, i)] = scores
  return done


def claim_workdir(config, workdir: str) -> None:
  """Records the config in workdir; refuses a workdir of another run.

  Finished folds and evolution checkpoints are resumed from workdir, so
  mixing two configs there would silently combine their results.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, 'config.json')
  if os.path.exists(path):
    with open(path) as f:
      changed = configs.config_changes(json.load(f), config.to_dict())
    if changed:
      raise ValueError(f'workdir {workdir!r} holds a run with another config '
                       f'(differs in: {", ".join(changed)}); use a new '
                       '--workdir or delete it')
  outputs.write_json(path, config.to_dict())


@contextlib.contextmanager
def hold_workdir(workdir: str) -> Iterator[None]:
  """workdir.exclusive, taken by process 0; with several processes the
  others learn its outcome, so that all of them stop together."""
  if jax.process_count() == 1:
    with workdir_lib.exclusive(workdir):
      yield
    return
  with contextlib.ExitStack() as held:
    error = ''
    if outputs.is_writer():
      try:
        held.enter_context(workdir_lib.exclusive(workdir))
      except workdir_lib.InUse as e:
        error = str(e)
    if multihost_utils.broadcast_one_to_all(np.int32(bool(error))):
      raise workdir_lib.InUse(error or f'workdir {workdir!r} is in use by '
                              'another run (process 0 could not lock it)')
    yield


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  """Cross-validated evolution (and transfer) on config.target: every fold
  of every seed (config.seeds) evolved together as one batch. Returns the
  results.json of the run (of config.seed, or over config.seeds).

  Everything is checked and loaded before the workdir is touched; the run
  then holds the workdir's lock until it has written its results.
  """
  validate.check_config(config)
  config = controls.engine_config(config)
  start = time.perf_counter()
  fs, src = load_task(config)
  funcs, src_funcs = load_functionals(config, fs, src)
  finished = finished_folds(config, fs, workdir)
  plans = protocol.plan(config, fs, protocol.seeds_of(config),
                        skip=set(finished), funcs=funcs)
  protocol.check(config, fs, plans, src)
  exp = Experiment(config, workdir, fs, src, funcs, src_funcs, start,
                   timings={'load_s': time.perf_counter() - start})
  with hold_workdir(workdir), contextlib.ExitStack() as stack:
    claim_workdir(config, workdir)
    # One TensorBoard run per seed folder (a resumed run continues its
    # curves); nothing is created before the first scalar.
    exp.events = {seed: stack.enter_context(tensorboard.writer(
        seed_dir(config, workdir, seed), jax.process_index()))
                  for seed in exp.seeds}
    sources = evolve_sources(exp)
    new_scores, model = evolve_targets(exp, plans, sources)
    results = write_results(exp, {**finished, **new_scores}, sources)
    if model is not None:  # the first run of this batch, for predict
      outputs.save_model(os.path.join(workdir, 'model'), config, *model,
                         fs.class_names)
    return results


def _evolve_batch(exp: Experiment, runs, folder: str, phase: str, events):
  """runs_lib.evolve_runs with progress lines (and per run a TensorBoard
  writer and tag prefix, `events`); checkpoints in `folder/<batch id>`
  (another set of runs gets another folder)."""
  return runs_lib.evolve_runs(
      exp.config, runs, workdir=os.path.join(
          folder, protocol.batch_id([r.name for r in runs])),
      augment=augment_lib.from_config(exp.config),
      progress=progress.reporter(phase, exp.config, runs, events))


def evolve_sources(exp: Experiment) -> dict[int, Any] | None:
  """seed -> the evolved source run of each seed (None for scratch)."""
  if exp.config.task == 'scratch':
    return None
  t0 = time.perf_counter()
  runs = protocol.source_runs(exp.config, exp.src, exp.seeds, exp.src_funcs)
  sources = dict(zip(exp.seeds, _evolve_batch(
      exp, runs, os.path.join(exp.workdir, 'source', 'checkpoints'),
      'source', [(exp.events[s], 'source') for s in exp.seeds])))
  exp.timings['source_s'] = time.perf_counter() - t0
  for seed, source in sources.items():
    logging.info('source of seed %d: best fitness %.3f', seed,
                 source.best_fitness)
  return sources


def evolve_targets(exp: Experiment, plans, sources):
  """Evolves the planned runs as one batch and scores their test folds
  (each fold's scores.json written). Returns ((seed, fold) -> scores, the
  first run's (params, pathway(s), frozen slots, normaliser) or None)."""
  if not plans:
    return {}, None
  config = exp.config
  t0 = time.perf_counter()
  evolved = _evolve_batch(
      exp, protocol.target_runs(config, exp.fs, plans, sources),
      os.path.join(exp.workdir, 'checkpoints'), 'target',
      [(exp.events[p.seed], f'fold_{p.fold}') for p in plans])
  train_s = time.perf_counter() - t0
  scored, members = protocol.score(config, exp.fs, plans, evolved)
  eval_s = time.perf_counter() - t0 - train_s
  exp.timings.update(train_s=train_s, eval_s=eval_s, batch_runs=len(plans))
  out = {}
  for p, scores in zip(plans, scored):
    # A batch has one wall time: each run's share of it.
    scores.update(train_s=train_s / len(plans), eval_s=eval_s / len(plans))
    out[(p.seed, p.fold)] = record_fold(exp, p, scores)
  genotypes = members[0]
  return out, (evolved[0].params,
               genotypes[0] if len(genotypes) == 1 else genotypes,
               evolved[0].frozen_slots, plans[0].stats)


def record_fold(exp: Experiment, plan, scores) -> dict[str, Any]:
  """A fold's scores as results hold them: written to its scores.json and
  TensorBoard, and printed."""
  scores = fold_scores_in_memory(metrics.jsonable(scores))
  fold_dir = os.path.join(seed_dir(exp.config, exp.workdir, plan.seed),
                          f'fold_{plan.fold}')
  if outputs.is_writer():
    os.makedirs(fold_dir, exist_ok=True)
  outputs.write_json(os.path.join(fold_dir, 'scores.json'), scores,
                     indent=None)
  tensorboard.write_scalars(exp.events[plan.seed],
                            int(exp.config.evolution.generations),
                            tensorboard.fold_test_scalars(plan.fold, scores))
  if outputs.is_writer():  # the fold's pathway map, also in TensorBoard
    map_png = os.path.join(fold_dir, outputs.PATHWAY_MAP)
    workdir_lib.write_atomically(map_png, lambda tmp: plots.plot_pathway_map(
        scores['module_occupancy'], scores['best_genotype'], tmp,
        scores.get('frozen_modules'),
        outputs.pathway_map_title(exp.config, scores)))
    tensorboard.write_png(exp.events[plan.seed],
                          int(exp.config.evolution.generations),
                          f'fold_{plan.fold}/pathway_map', map_png)
  print(f"{plan.name}: segment WA {scores['segment']['wa']:.3f} | "
        f"utterance WA {scores['utterance']['wa']:.3f} UA "
        f"{scores['utterance']['ua']:.3f}", flush=True)
  return scores


def write_results(exp: Experiment, fold_scores, sources) -> dict[str, Any]:
  """Each seed's results (and, for config.seeds, their mean) written;
  returns the run's results.json."""
  skipped = {'target': data.skipped_files(exp.fs),
             'source': [] if exp.src is None else data.skipped_files(exp.src)}
  per_seed = {}
  for seed in exp.seeds:
    folds, chosen = protocol.fold_plan(exp.config, exp.fs, seed)
    results = seed_results(exp, seed, len(folds),
                           [fold_scores[(seed, i)] for i in chosen],
                           sources and sources[seed])
    results['skipped_files'] = skipped
    outputs.write_results(seed_dir(exp.config, exp.workdir, seed),
                          exp.config, results, exp.fs.class_names)
    per_seed[seed] = results
  if not exp.config.seeds:
    return per_seed[exp.seeds[0]]
  overall = over_seeds(exp, per_seed)
  overall['skipped_files'] = skipped
  outputs.write_seeds_results(exp.workdir, overall)
  return overall


def _run_fields(exp: Experiment) -> dict[str, Any]:
  config = exp.config
  return {'task': config.task, 'target': config.target,
          'sources': list(config.sources), 'protocol': config.protocol}


def seed_results(exp: Experiment, seed: int, n_folds_total: int,
                 fold_scores, source) -> dict[str, Any]:
  """One seed's results.json: its folds, their aggregate, its source."""
  aggregate = {lvl: metrics.aggregate_folds([s[lvl] for s in fold_scores])
               for lvl in LEVELS}
  source_history = source_best = None
  if source is not None:
    source_history = {k: v.tolist() for k, v in source.history.items()}
    source_best = {'genotype': source.best_genotype,
                   'fitness': source.best_fitness, 'n_rows': len(exp.src),
                   'class_names': list(exp.src.class_names)}
  return {
      **_run_fields(exp),
      'n_folds': len(fold_scores), 'n_folds_total': n_folds_total,
      'seed': seed, 'class_names': list(exp.fs.class_names),
      'n_rows': len(exp.fs),
      'n_utterances': int(np.unique(exp.fs.utterance).size),
      'device': jax.devices()[0].device_kind,
      'git_commit': outputs.git_commit(),
      'config': exp.config.to_dict(), 'folds': fold_scores,
      'aggregate': aggregate, 'source_history': source_history,
      'source_best': source_best,
      'timings': {**exp.timings,
                  'total_s': time.perf_counter() - exp.start},
  }


def over_seeds(exp: Experiment, per_seed) -> dict[str, Any]:
  """The workdir's results.json for several seeds: each seed's aggregate
  (its full results are in seed_<s>/results.json) and their mean."""
  def mean(level, key):
    return float(np.mean([r['aggregate'][level][key + '_mean']
                          for r in per_seed.values()]))
  return {
      **_run_fields(exp), 'seeds': list(per_seed),
      'per_seed': {str(s): {'results': f'seed_{s}/results.json',
                            'aggregate': r['aggregate']}
                   for s, r in per_seed.items()},
      'mean_over_seeds': {lvl: {k: mean(lvl, k) for k in ('wa', 'ua')}
                          for lvl in LEVELS},
      'config': exp.config.to_dict(), 'git_commit': outputs.git_commit(),
      'timings': {**exp.timings,
                  'total_s': time.perf_counter() - exp.start},
  }


def summary_line(results: dict[str, Any], workdir: str) -> str:
  """The line the binary ends with: the run's headline scores."""
  if 'mean_over_seeds' in results:
    m = results['mean_over_seeds']
    return (f"{results['target']} ({results['protocol']}, seeds "
            f"{','.join(map(str, results['seeds']))}): utterance WA "
            f"{m['utterance']['wa']:.3f} UA {m['utterance']['ua']:.3f} | "
            f"segment WA {m['segment']['wa']:.3f} (mean over seeds); wrote "
            f'{workdir}')
  agg = results['aggregate']
  return (f"{results['target']} ({results['protocol']}, {results['n_folds']} "
          f"fold(s)): utterance WA {agg['utterance']['wa_mean']:.3f} "
          f"UA {agg['utterance']['ua_mean']:.3f} | segment WA "
          f"{agg['segment']['wa_mean']:.3f}; wrote {workdir}")


def run(config, workdir: str) -> int:
  """train_and_evaluate for the command line: exit code 0 after the
  summary line, or 1 after one `error: ...` line on stderr for a bad
  config, corpus or workdir (experiments/lib/cli.py)."""
  try:
    results = train_and_evaluate(config, workdir)
  except Exception as e:  # pylint: disable=broad-except
    return cli.fail(e)
  print(summary_line(results, workdir), flush=True)
  return 0
