r"""Evolve PathNet on a corpus (scratch), or transfer from source corpora.

  python -m experiments.train                       # demo on synthetic data
  python -m experiments.train --config=experiments/configs/a_emo.py \
      --workdir=runs/a_emo [--config.evolution.generations=50]

`train_and_evaluate(config, workdir)` does the work; this file's main() only
parses flags. Task kinds (config.task):
  scratch       evolve on each training fold of config.target
  transfer      evolve on all of config.sources, freeze the best pathway,
                re-initialise the rest, evolve on each target training fold
  multi_source  the same with several sources pooled into one task
Writes to workdir: results.json, summary.md, confusion.png, fitness.png,
per-fold checkpoints (a rerun resumes) and model/ (for predict.py).

Devices: a config with a `parallel` section (experiments/configs/parallel.py)
shards each generation over every device JAX sees. Several hosts run the
same command; JAX joins them before anything else runs:
  TPU pod slice   gcloud compute tpus tpu-vm ssh NAME --worker=all \
                    --command='python -m experiments.train --distributed ...'
                  (--distributed: JAX finds the slice's hosts itself)
  GPU hosts       on each host i of n:  python -m experiments.train \
                    --coordinator_address=HOST0:1234 --num_processes=n \
                    --process_id=i ...   (or JAX_COORDINATOR_ADDRESS,
                    JAX_NUM_PROCESSES, JAX_PROCESS_ID in the environment;
                    SLURM / Open MPI launches: --distributed)
"""
from __future__ import annotations

import contextlib
import difflib
import importlib.util
import json
import os
import subprocess
import sys
import time
from typing import Any, Iterator, Sequence

from absl import app
from absl import flags
from absl import logging
import jax
from jax.experimental import multihost_utils
from ml_collections import config_flags
import numpy as np

from experiments.lib import cli
from experiments.lib import data
from experiments.lib import normalize
from experiments.lib import plots
from experiments.lib import protocol
from experiments.lib import tensorboard
from experiments.lib import views
from experiments.lib import workdir as workdir_lib
from experiments.configs import default as default_config
from pathnet_jax import augment as augment_lib
from pathnet_jax import checkpoint as ckpt_lib
from pathnet_jax import ensemble
from pathnet_jax import checks
from pathnet_jax import generation as gen_lib
from pathnet_jax import metrics
from pathnet_jax import parallel
from pathnet_jax import runs as runs_lib

TASKS = ('scratch', 'transfer', 'multi_source')
MODALITIES = ('audio', 'video', 'image')
DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), 'configs', 'demo.py')
# Top-level config fields beyond configs/default.py that this binary reads.
OPTIONAL_FIELDS = ('synthetic', 'parallel', 'max_folds', 'data_seed')
# Settings a rerun in the same workdir may change (it resumes finished folds).
RESUMABLE_KEYS = ('folds', 'max_folds', 'evolution.run_batching')
_ABSENT = object()


def flat_fields(config_dict: dict[str, Any], prefix: str = ''
                ) -> dict[str, Any]:
  """{'optim.batch_size': 64, ...}: a config's leaves as JSON values."""
  out = {}
  for key, value in json.loads(json.dumps(metrics.jsonable(
      config_dict))).items():
    if isinstance(value, dict) and value:
      out.update(flat_fields(value, f'{prefix}{key}.'))
    else:
      out[prefix + key] = value
  return out


def config_changes(old: dict[str, Any], new: dict[str, Any],
                   ignore: Sequence[str] = RESUMABLE_KEYS) -> list[str]:
  """Dotted fields in which config `new` differs from the recorded `old`.

  A field absent from `old` was added to the code after `old` was recorded:
  it differs only when `new` sets it away from configs/default.py's value
  (older runs behaved as that default), so workdirs survive upgrades.
  """
  old_f, new_f = flat_fields(old), flat_fields(new)
  defaults = flat_fields(default_config.get_config().to_dict())
  changed = []
  for field in sorted(set(old_f) | set(new_f)):
    if any(field == k or field.startswith(k + '.') for k in ignore):
      continue
    before, after = old_f.get(field, _ABSENT), new_f.get(field, _ABSENT)
    if before is _ABSENT and after == defaults.get(field, _ABSENT):
      continue
    if before != after:
      changed.append(field)
  return changed


def check_config(config) -> None:
  """One clear error for settings that would otherwise fail deep in JAX."""
  unknown = unknown_fields(config)
  if unknown:
    raise ValueError(unknown)
  if config.task not in TASKS:
    raise ValueError(f'config.task must be one of {TASKS}, got {config.task!r}')
  if config.task != 'scratch' and not config.sources:
    raise ValueError(f'config.task={config.task!r} needs config.sources')
  for spec in (config.target, *config.sources):
    data.corpus_names(spec)  # unknown corpus or filter: fail before any work
  if config.modality not in MODALITIES:
    raise ValueError(f'config.modality must be one of {MODALITIES}, got '
                     f'{config.modality!r}')
  data.face_setting(config)  # config.faces
  checks.validate_config(config)  # model, evolution and optim ranges
  if int(config.n_splits) < 0 or int(config.n_splits) == 1:
    raise ValueError(f'config.n_splits must be 0 (protocol default) or >= 2, '
                     f'got {config.n_splits}')
  if config.fitness not in ('train', 'validation'):
    raise ValueError("config.fitness must be 'train' or 'validation', got "
                     f'{config.fitness!r}')
  if config.normalize not in normalize.MODES:
    raise ValueError(f'config.normalize must be one of {normalize.MODES}')
  view = views.of(config)  # an unknown view: one error naming the choices
  if view.functionals and config.modality != 'audio':
    raise ValueError(f'model.input_view={config.model.input_view!r} needs '
                     "audio (openSMILE functionals); config.modality is "
                     f'{config.modality!r}')
  if not 0 < float(config.get('train_fraction', 1.0)) <= 1:
    raise ValueError('config.train_fraction must be in (0, 1], got '
                     f'{config.train_fraction}')
  if int(config.get('ensemble_size', 1)) < 1:
    raise ValueError('config.ensemble_size must be >= 1 (1 = the best '
                     f'pathway alone), got {config.ensemble_size}')
  if config.get('shared_classes_only', False) and not config.sources:
    raise ValueError('config.shared_classes_only needs config.sources (the '
                     'corpora whose classes the target shares)')


def config_fields(config, prefix: str = '') -> list[str]:
  """Every dotted field name of a ConfigDict: 'optim', 'optim.batch_size'..."""
  names = []
  for key, value in config.items():
    names.append(prefix + key)
    if hasattr(value, 'items'):
      names += config_fields(value, f'{prefix}{key}.')
  return names


def unknown_field_message(field: str, known: Sequence[str]) -> str:
  close = difflib.get_close_matches(field, known, n=1)
  hint = f"; did you mean '{close[0]}'?" if close else ''
  return f'unknown config field {field!r}{hint}'


def unknown_override(config, argv: Sequence[str]) -> str | None:
  """The message for the first `--config.<field>=` of argv that `config` does
  not have, naming the nearest valid field; None when all are known."""
  known = config_fields(config)
  for arg in argv:
    if not arg.startswith('--config.'):
      continue
    field = arg[len('--config.'):].split('=', 1)[0]
    if field not in known:
      return unknown_field_message(field, known)
  return None


def unknown_fields(config) -> str | None:
  """The message for the first field of a config (file) that the default
  config does not define and nothing reads: a typo that would otherwise be
  silently ignored (`c.optim.learnin_rate = 0.1`). None when all are known."""
  known = config_fields(default_config.get_config())
  for field in config_fields(config):
    if field.split('.')[0] not in OPTIONAL_FIELDS and field not in known:
      return unknown_field_message(field, known)
  return None


def load_config_file(argv: Sequence[str], default: str):
  """The ConfigDict that `--config=file.py[:arg]` in argv names."""
  spec = default
  for i, arg in enumerate(argv):
    if arg.startswith('--config='):
      spec = arg.split('=', 1)[1]
    elif arg == '--config' and i + 1 < len(argv):
      spec = argv[i + 1]
  path, _, arg = spec.partition(':')
  module_spec = importlib.util.spec_from_file_location('_config', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def git_commit() -> str:
  try:
    return subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True,
                          text=True, check=True,
                          cwd=os.path.dirname(__file__)).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'


def _log_progress(phase: str, config, runs: Sequence[Any],
                  events: Sequence[tuple[Any, str]] = ()):
  """A line per call of the batch (one tenth of the run, or a checkpoint
  interval): where its runs stand, and their speed. With `events` (per run:
  its TensorBoard writer and tag prefix), every generation's scalars."""
  total = int(config.evolution.generations)
  paths = 2 * int(config.evolution.get('tournaments_per_generation', 1))
  steps = sum(gen_lib.steps_for(config, r.x.shape[0]) for r in runs)
  t0 = time.perf_counter()

  def report(first: int, last: int, history, seconds: float) -> None:
    best = history['best_fitness'][:, -1]
    rate = paths * steps * (last - first) / max(seconds, 1e-9)
    eta = (time.perf_counter() - t0) / (last - first) * (total - last)
    who = f'{len(runs)} runs' if len(runs) > 1 else runs[0].name or phase
    print(f'[{phase}: {who}] generation {last}/{total}: best fitness '
          f'{best.mean():.3f} (min {best.min():.3f}), '
          f'{rate:.0f} pathway-steps/s, eta {eta:.0f}s', flush=True)
    for r, run in enumerate(runs):
      for i in range(last - first):
        logging.info('%s %s gen %d/%d best %.4f mean %.4f loss %.4f', phase,
                     run.name, first + i + 1, total,
                     history['best_fitness'][r, i],
                     history['mean_fitness'][r, i], history['loss'][r, i])
    for r, (tb, prefix) in enumerate(events):
      for i in range(last - first):
        tensorboard.write_scalars(tb, first + i + 1, {
            **{f'{prefix}/evolution/{k}': history[k][r, i]
               for k in gen_lib.HISTORY_KEYS},
            f'{prefix}/evolution/pathway_steps_per_s': rate}, flush=False)
      tb.flush()
  return report


def claim_workdir(config, workdir: str) -> None:
  """Records the config in workdir; refuses a workdir of another run.

  Finished folds and evolution checkpoints are resumed from workdir, so
  mixing two configs there would silently combine their results.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, 'config.json')
  if os.path.exists(path):
    with open(path) as f:
      changed = config_changes(json.load(f), config.to_dict())
    if changed:
      raise ValueError(f'workdir {workdir!r} holds a run with another config '
                       f'(differs in: {", ".join(changed)}); use a new '
                       '--workdir or delete it')
  if is_writer():
    write_json(path, config.to_dict())


def load_task(config):
  """(target, pooled sources or None) as the run uses them.

  The sources are read for transfer tasks, and for a scratch run with
  config.shared_classes_only (its sources then only say which classes to
  keep, so that it runs on the same rows as its transfer counterpart).
  """
  target = data.load_corpus(config.target, config)
  shared = config.get('shared_classes_only', False)
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


def member_log_probs(config, params, genotypes, frozen_slots, x_test
                     ) -> np.ndarray:
  """[k, n, C] log-probabilities of each pathway of `genotypes` [k, L, N]."""
  return runs_lib.log_probs(config, [params], [np.asarray(genotypes)],
                            [frozen_slots], [np.asarray(x_test)])[0]


def test_log_probs(config, params, genotype, frozen_slots, x_test):
  """[n, C] log-probabilities of a pathway [L, N] (frozen modules joined), or
  of an ensemble [k, L, N]: the log of its members' mean probability; as a
  run's test fold is scored."""
  genotype = np.asarray(genotype)
  members = member_log_probs(config, params, genotype.reshape(
      (-1,) + genotype.shape[-2:]), frozen_slots, x_test)
  return ensemble.mean_probability(members)


def fold_scores_in_memory(scores: dict[str, Any]) -> dict[str, Any]:
  """A fold's scores with the per-level dicts in metrics' in-memory form
  (NaN, not None, for the recall of a class absent from the test fold)."""
  return {**scores, **{level: metrics.scores_from_json(scores[level])
                       for level in ('segment', 'utterance')}}


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


def is_writer() -> bool:
  """Only process 0 writes results, summaries, plots and model/: with several
  hosts on one shared workdir every process would otherwise write each file."""
  return jax.process_index() == 0


def write_json(path: str, obj, indent: int | None = 1) -> None:
  def write(tmp):
    with open(tmp, 'w') as f:
      json.dump(metrics.jsonable(obj), f, indent=indent)
  workdir_lib.write_atomically(path, write)


def write_text(path: str, text: str) -> None:
  def write(tmp):
    with open(tmp, 'w') as f:
      f.write(text)
  workdir_lib.write_atomically(path, write)


def save_model(model_dir, config, params, genotype, frozen_slots, stats,
               class_names) -> None:
  """What predict.py needs: parameters, pathway (int32[L, N], or [k, L, N]
  for an ensemble), normaliser, class names.

  Every process calls this: orbax saves the (replicated) parameters as one
  copy from the primary host; the plain files come from process 0 only.
  """
  os.makedirs(model_dir, exist_ok=True)
  if not is_writer():
    ckpt_lib.save_pytree(os.path.join(model_dir, 'params'), params)
    return
  # predict shares this lock while it reads, so it never sees new params
  # beside an old meta.json (or a folder half replaced).
  with workdir_lib.locked(os.path.join(model_dir, workdir_lib.MODEL_LOCK_NAME),
                          shared=False, wait_s=float('inf')):
    _write_model_files(model_dir, config, params, genotype, frozen_slots,
                       stats, class_names)


def _write_model_files(model_dir, config, params, genotype, frozen_slots,
                       stats, class_names) -> None:
  """stats: the segment normaliser, or (segment, functionals) normalisers
  (either may be None) of a view (experiments/lib/views.py)."""
  ckpt_lib.save_pytree(os.path.join(model_dir, 'params'), params)
  seg_stats, func_stats = (
      (stats, None) if isinstance(stats, normalize.NormStats) else stats)
  for name, st in (('normalizer.npz', seg_stats),
                   ('functionals_normalizer.npz', func_stats)):
    if st is not None:
      workdir_lib.write_atomically(
          os.path.join(model_dir, name),
          lambda tmp, st=st: np.savez(tmp, mode=st.mode, mean=st.mean,
                                      std=st.std))
  feature_set = views.of(config).functionals
  meta = {'genotype': np.asarray(genotype).tolist(),
          'frozen_slots': (None if frozen_slots is None else
                           [np.asarray(a).tolist() for a in frozen_slots]),
          'class_names': list(class_names),
          'feature_params': data.feature_params(
              config.modality, data.spec_faces(config.target, config)),
          'functionals_params': None if feature_set is None else
                                data.functionals_params(feature_set),
          'config': config.to_dict()}
  write_json(os.path.join(model_dir, 'meta.json'), meta)


def summary_markdown(results: dict[str, Any]) -> str:
  agg = results['aggregate']
  fmt = lambda d, k: f"{d[k + '_mean']:.3f} ± {d[k + '_std']:.3f}"
  lines = [
      f"# {results['task']}: {results.get('sources') or ''}"
      f"{' → ' if results.get('sources') else ''}{results['target']}",
      '', f"protocol `{results['protocol']}`, {results['n_folds']} of "
      f"{results['n_folds_total']} folds, seed {results['seed']}, "
      f"{results['config']['evolution']['generations']} generations", '',
      '| level | WA | UA |', '|---|---|---|',
      f"| utterance | {fmt(agg['utterance'], 'wa')} | "
      f"{fmt(agg['utterance'], 'ua')} |",
      f"| segment | {fmt(agg['segment'], 'wa')} | {fmt(agg['segment'], 'ua')} |",
      '', f"wall time {results['timings']['total_s']:.0f} s", '']
  note = data.skipped_note(results.get('skipped_files', {}))
  return '\n'.join(lines + ([note, ''] if note else []))


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
    if is_writer():
      try:
        held.enter_context(workdir_lib.exclusive(workdir))
      except workdir_lib.InUse as e:
        error = str(e)
    if multihost_utils.broadcast_one_to_all(np.int32(bool(error))):
      raise workdir_lib.InUse(error or f'workdir {workdir!r} is in use by '
                              'another run (process 0 could not lock it)')
    yield


def seed_dir(config, workdir: str, seed: int) -> str:
  """Where a seed's folds and results go: the workdir itself for a run of
  config.seed, `workdir/seed_<s>` for each of config.seeds."""
  if config.get('seeds', ()):
    return os.path.join(workdir, f'seed_{seed}')
  return workdir


def _finished_folds(config, fs, workdir: str) -> dict[tuple[int, int], dict]:
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


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  """Cross-validated evolution (and transfer) on config.target: every fold
  of every seed (config.seeds) evolved together as one batch.

  Everything is checked and loaded before the workdir is touched; the run
  then holds the workdir's lock until it has written its results.
  """
  check_config(config)
  start = time.perf_counter()
  fs, src = load_task(config)
  funcs, src_funcs = load_functionals(config, fs, src)
  finished = _finished_folds(config, fs, workdir)
  plans = protocol.plan(config, fs, protocol.seeds_of(config),
                        skip=set(finished), funcs=funcs)
  protocol.check(config, fs, plans, src)
  with hold_workdir(workdir), contextlib.ExitStack() as stack:
    claim_workdir(config, workdir)
    # One TensorBoard run per seed folder (a resumed run continues its
    # curves); nothing is created before the first scalar.
    events = {seed: stack.enter_context(tensorboard.writer(
        seed_dir(config, workdir, seed), jax.process_index()))
              for seed in protocol.seeds_of(config)}
    return _evolve_and_score(config, workdir, fs, src, plans, finished, start,
                             events, src_funcs)


def _evolve_batch(config, runs, workdir: str, phase: str, events=()):
  """runs_lib.evolve_runs with this binary's progress lines (and per run
  TensorBoard writer and tag prefix, `events`); checkpoints in
  `workdir/<batch id>` (another set of runs gets another folder)."""
  return runs_lib.evolve_runs(
      config, runs, workdir=os.path.join(
          workdir, protocol.batch_id([r.name for r in runs])),
      augment=augment_lib.from_config(config),
      progress=_log_progress(phase, config, runs, events))


def _evolve_and_score(config, workdir, fs, src, plans, finished, start,
                      events, src_funcs=None):
  seeds = protocol.seeds_of(config)
  timings = {'load_s': time.perf_counter() - start}
  skipped = {'target': data.skipped_files(fs),
             'source': [] if src is None else data.skipped_files(src)}
  sources = None
  if config.task != 'scratch':
    t0 = time.perf_counter()
    source_runs = protocol.source_runs(config, src, seeds, src_funcs)
    sources = dict(zip(seeds, _evolve_batch(
        config, source_runs, os.path.join(workdir, 'source', 'checkpoints'),
        'source', [(events[s], 'source') for s in seeds])))
    timings['source_s'] = time.perf_counter() - t0
    for seed, source in sources.items():
      logging.info('source of seed %d: best fitness %.3f', seed,
                   source.best_fitness)

  fold_scores = dict(finished)
  first = None
  if plans:
    t0 = time.perf_counter()
    evolved = _evolve_batch(
        config, protocol.target_runs(config, fs, plans, sources),
        os.path.join(workdir, 'checkpoints'), 'target',
        [(events[p.seed], f'fold_{p.fold}') for p in plans])
    train_s = time.perf_counter() - t0
    scored, members = protocol.score(config, fs, plans, evolved)
    eval_s = time.perf_counter() - t0 - train_s
    timings.update(train_s=train_s, eval_s=eval_s, batch_runs=len(plans))
    for p, scores in zip(plans, scored):
      # A batch has one wall time: each run's share of it.
      scores.update(train_s=train_s / len(plans),
                    eval_s=eval_s / len(plans))
      scores = fold_scores_in_memory(metrics.jsonable(scores))
      fold_dir = os.path.join(seed_dir(config, workdir, p.seed),
                              f'fold_{p.fold}')
      if is_writer():
        os.makedirs(fold_dir, exist_ok=True)
        write_json(os.path.join(fold_dir, 'scores.json'), scores, indent=None)
      tensorboard.write_scalars(events[p.seed],
                                int(config.evolution.generations),
                                tensorboard.fold_test_scalars(p.fold, scores))
      print(f"{p.name}: segment WA {scores['segment']['wa']:.3f} | "
            f"utterance WA {scores['utterance']['wa']:.3f} UA "
            f"{scores['utterance']['ua']:.3f}", flush=True)
      fold_scores[(p.seed, p.fold)] = scores
    first = (evolved[0], plans[0].stats, members[0])

  per_seed = {}
  for seed in seeds:
    folds, chosen = protocol.fold_plan(config, fs, seed)
    results = _seed_results(config, fs, src, seed, len(folds),
                            [fold_scores[(seed, i)] for i in chosen],
                            sources and sources[seed], timings, start)
    results['skipped_files'] = skipped
    if is_writer():
      write_outputs(seed_dir(config, workdir, seed), config, results,
                    fs.class_names)
    per_seed[seed] = results
  if first is not None:
    result, stats, genotypes = first
    save_model(os.path.join(workdir, 'model'), config, result.params,
               genotypes[0] if len(genotypes) == 1 else genotypes,
               result.frozen_slots, stats, fs.class_names)
  if not config.get('seeds', ()):
    return per_seed[seeds[0]]
  overall = _over_seeds(config, per_seed, timings, start)
  overall['skipped_files'] = skipped
  if is_writer():
    write_json(os.path.join(workdir, 'results.json'), overall)
    write_text(os.path.join(workdir, 'summary.md'), seeds_markdown(overall))
  return overall


def _seed_results(config, fs, src, seed, n_folds_total, fold_scores, source,
                  timings, start) -> dict[str, Any]:
  """One seed's results.json: its folds, their aggregate, its source."""
  aggregate = {lvl: metrics.aggregate_folds([s[lvl] for s in fold_scores])
               for lvl in ('segment', 'utterance')}
  source_history = source_best = None
  if source is not None:
    source_history = {k: v.tolist() for k, v in source.history.items()}
    source_best = {'genotype': source.best_genotype,
                   'fitness': source.best_fitness, 'n_rows': len(src),
                   'class_names': list(src.class_names)}
  return {
      'task': config.task, 'target': config.target,
      'sources': list(config.sources), 'protocol': config.protocol,
      'n_folds': len(fold_scores), 'n_folds_total': n_folds_total,
      'seed': seed, 'class_names': list(fs.class_names), 'n_rows': len(fs),
      'n_utterances': int(np.unique(fs.utterance).size),
      'device': jax.devices()[0].device_kind, 'git_commit': git_commit(),
      'config': config.to_dict(), 'folds': fold_scores,
      'aggregate': aggregate, 'source_history': source_history,
      'source_best': source_best,
      'timings': {**timings, 'total_s': time.perf_counter() - start},
  }


def _over_seeds(config, per_seed, timings, start) -> dict[str, Any]:
  """The workdir's results.json for several seeds: each seed's aggregate
  (its full results are in seed_<s>/results.json) and their mean."""
  def mean(level, key):
    return float(np.mean([r['aggregate'][level][key + '_mean']
                          for r in per_seed.values()]))
  return {
      'task': config.task, 'target': config.target,
      'sources': list(config.sources), 'protocol': config.protocol,
      'seeds': list(per_seed),
      'per_seed': {str(s): {'results': f'seed_{s}/results.json',
                            'aggregate': r['aggregate']}
                   for s, r in per_seed.items()},
      'mean_over_seeds': {lvl: {k: mean(lvl, k) for k in ('wa', 'ua')}
                          for lvl in ('segment', 'utterance')},
      'config': config.to_dict(), 'git_commit': git_commit(),
      'timings': {**timings, 'total_s': time.perf_counter() - start},
  }


def seeds_markdown(overall: dict[str, Any]) -> str:
  """summary.md of a several-seed workdir: a row per seed and their mean."""
  lines = [f"# {overall['task']}: {overall['target']}", '',
           f"protocol `{overall['protocol']}`, seeds "
           f"{', '.join(map(str, overall['seeds']))}", '',
           '| seed | utterance WA | utterance UA | segment WA |',
           '|---|---|---|---|']
  for seed, r in overall['per_seed'].items():
    agg = r['aggregate']
    lines.append(f"| {seed} | {agg['utterance']['wa_mean']:.3f} | "
                 f"{agg['utterance']['ua_mean']:.3f} | "
                 f"{agg['segment']['wa_mean']:.3f} |")
  m = overall['mean_over_seeds']
  lines += [f"| mean | {m['utterance']['wa']:.3f} | {m['utterance']['ua']:.3f}"
            f" | {m['segment']['wa']:.3f} |", '',
            f"wall time {overall['timings']['total_s']:.0f} s", '']
  note = data.skipped_note(overall.get('skipped_files', {}))
  return '\n'.join(lines + ([note, ''] if note else []))


def write_outputs(workdir, config, results, class_names) -> None:
  """results.json, summary.md and the figures, each written atomically."""
  write_json(os.path.join(workdir, 'results.json'), results)
  write_text(os.path.join(workdir, 'summary.md'), summary_markdown(results))
  workdir_lib.write_atomically(
      os.path.join(workdir, 'confusion.png'),
      lambda tmp: plots.plot_confusion(
          np.asarray(results['aggregate']['utterance']['confusion']),
          class_names, tmp,
          f'{config.target} ({config.protocol}), utterance level'))
  curves = {f'target fold {s["fold"]}': {
      'best': s['history']['best_fitness'], 'mean': s['history']['mean_fitness']}
            for s in results['folds'][:1]}
  source_history = results['source_history']
  if source_history is not None:
    curves = {'source': {'best': source_history['best_fitness'],
                         'mean': source_history['mean_fitness']}, **curves}
  workdir_lib.write_atomically(os.path.join(workdir, 'fitness.png'),
                               lambda tmp: plots.plot_fitness(curves, tmp))


def run(config, workdir: str) -> int:
  """train_and_evaluate for the command line: exit code 0, or 1 after one
  `error: ...` line on stderr for a bad config, corpus or workdir."""
  try:
    results = train_and_evaluate(config, workdir)
  except Exception as e:  # pylint: disable=broad-except
    return cli.fail(e)
  if 'mean_over_seeds' in results:
    m = results['mean_over_seeds']
    print(f"{results['target']} ({results['protocol']}, seeds "
          f"{','.join(map(str, results['seeds']))}): utterance WA "
          f"{m['utterance']['wa']:.3f} UA {m['utterance']['ua']:.3f} | "
          f"segment WA {m['segment']['wa']:.3f} (mean over seeds); wrote "
          f'{workdir}')
    return 0
  agg = results['aggregate']
  print(f"{results['target']} ({results['protocol']}, {results['n_folds']} "
        f"fold(s)): utterance WA {agg['utterance']['wa_mean']:.3f} "
        f"UA {agg['utterance']['ua_mean']:.3f} | segment WA "
        f"{agg['segment']['wa_mean']:.3f}; wrote {workdir}")
  return 0


def define_flags() -> None:
  """The binary's flags; defined only when run as a program, so that other
  binaries (reproduce, predict) can import this module."""
  config_flags.DEFINE_config_file(
      'config', DEFAULT_CONFIG,
      'Training configuration (default: the synthetic demo).',
      lock_config=True)
  flags.DEFINE_string('workdir', os.path.join('runs', 'demo'),
                      'Output directory (resumes if it holds a run).')
  flags.DEFINE_string('coordinator_address', None,
                      'Multi-process runs: host:port of process 0.')
  flags.DEFINE_integer('num_processes', None, 'Multi-process runs: count.')
  flags.DEFINE_integer('process_id', None, 'Multi-process runs: this one.')
  flags.DEFINE_bool('distributed', False, 'Let jax.distributed detect the '
                    'cluster (TPU pod slices, SLURM, Open MPI).')
  flags.DEFINE_bool('compilation_cache', True, "JAX's persistent compilation "
                    'cache in <config.cache_dir>/xla: a rerun, or another '
                    'config with the same shapes, does not compile again.')


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  f = flags.FLAGS
  parallel.maybe_initialize_distributed(
      f.coordinator_address, f.num_processes, f.process_id,
      auto=f.distributed)
  print(f'JAX devices: {jax.devices()}', flush=True)
  if f.compilation_cache:
    cli.use_compilation_cache(f.config.cache_dir)
  sys.exit(run(f.config, f.workdir))


def define_flags_or_exit(argv: Sequence[str]) -> None:
  """define_flags, turning ml_collections' traceback for an unknown
  `--config.<field>` (it parses overrides already here) into one line."""
  try:
    define_flags()
  except (AttributeError, KeyError) as e:
    try:
      message = unknown_override(load_config_file(argv, DEFAULT_CONFIG), argv)
    except Exception:  # pylint: disable=broad-except
      message = None  # the config file itself is broken: say what we know
    first_line = str(e).strip().strip("'\"").splitlines()[0]
    print(f'error: {message or first_line}', file=sys.stderr, flush=True)
    sys.exit(1)


if __name__ == '__main__':
  define_flags_or_exit(sys.argv)
  cli.run(main)
