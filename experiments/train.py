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

import json
import os
import subprocess
import sys
import time
from typing import Any, Sequence

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
from ml_collections import config_flags
import numpy as np
import orbax.checkpoint as ocp

from experiments import data
from experiments import normalize
from experiments import plots
from experiments import splits
from pathnet_jax import augment as augment_lib
from pathnet_jax import evolve
from pathnet_jax import metrics
from pathnet_jax import parallel
from pathnet_jax import pathway
from pathnet_jax import train as train_lib
from pathnet_jax import transfer

TASKS = ('scratch', 'transfer', 'multi_source')
MODALITIES = ('audio', 'video')
# Settings a rerun in the same workdir may change (it resumes finished folds).
RESUMABLE_KEYS = ('folds', 'max_folds')


def check_config(config) -> None:
  """One clear error for settings that would otherwise fail deep in JAX."""
  if config.task not in TASKS:
    raise ValueError(f'config.task must be one of {TASKS}, got {config.task!r}')
  if config.task != 'scratch' and not config.sources:
    raise ValueError(f'config.task={config.task!r} needs config.sources')
  for spec in (config.target, *config.sources):
    data.corpus_names(spec)  # unknown corpus or filter: fail before any work
  if config.modality not in MODALITIES:
    raise ValueError(f'config.modality must be one of {MODALITIES}, got '
                     f'{config.modality!r}')
  if int(config.evolution.generations) < 1:
    raise ValueError('config.evolution.generations must be >= 1, got '
                     f'{config.evolution.generations}')
  if int(config.evolution.population_size) < 2:
    raise ValueError('config.evolution.population_size must be >= 2 (a '
                     f'tournament needs two), got '
                     f'{config.evolution.population_size}')
  if int(config.n_splits) < 0 or int(config.n_splits) == 1:
    raise ValueError(f'config.n_splits must be 0 (protocol default) or >= 2, '
                     f'got {config.n_splits}')
  if int(config.optim.batch_size) < 1:
    raise ValueError(f'config.optim.batch_size must be >= 1, got '
                     f'{config.optim.batch_size}')
  if config.fitness not in ('train', 'validation'):
    raise ValueError("config.fitness must be 'train' or 'validation', got "
                     f'{config.fitness!r}')
  if config.normalize not in normalize.MODES:
    raise ValueError(f'config.normalize must be one of {normalize.MODES}')


def git_commit() -> str:
  try:
    return subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True,
                          text=True, check=True,
                          cwd=os.path.dirname(__file__)).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'


def _log_progress(phase: str, total: int):
  """One line per tenth of the run (every generation is logged at INFO)."""
  t0 = time.perf_counter()

  def report(g: int, summary: dict[str, float]) -> None:
    if g == 1 or g % max(1, total // 10) == 0 or g == total:
      elapsed = time.perf_counter() - t0
      print(f'[{phase}] generation {g}/{total}: best fitness '
            f'{summary["best_fitness"]:.3f}, mean {summary["mean_fitness"]:.3f},'
            f' {summary["pathway_steps_per_s"]:.0f} pathway-steps/s, '
            f'eta {elapsed / g * (total - g):.0f}s', flush=True)
  return report


def fold_plan(config, fs) -> tuple[list[splits.Fold], list[int]]:
  """All folds of the target under config.protocol, and the indices to run:
  config.folds, or all; at most the first `config.max_folds` (if set) of them.
  """
  n_splits = int(config.n_splits) or None
  folds = splits.make_folds(config.protocol, fs, n_splits, config.seed)
  chosen = list(config.folds) or list(range(len(folds)))
  if config.get('max_folds', 0):
    chosen = chosen[:int(config.max_folds)]
  if min(chosen) < 0 or max(chosen) >= len(folds):
    raise ValueError(f'config.folds {chosen} out of range: {len(folds)} folds')
  return folds, chosen


def _comparable(config) -> dict[str, Any]:
  d = json.loads(json.dumps(metrics.jsonable(config.to_dict())))
  return {k: v for k, v in d.items() if k not in RESUMABLE_KEYS}


def claim_workdir(config, workdir: str) -> None:
  """Records the config in workdir; refuses a workdir of another run.

  Finished folds and evolution checkpoints are resumed from workdir, so
  mixing two configs there would silently combine their results.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, 'config.json')
  if os.path.exists(path):
    with open(path) as f:
      old = {k: v for k, v in json.load(f).items() if k not in RESUMABLE_KEYS}
    new = _comparable(config)
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if changed:
      raise ValueError(f'workdir {workdir!r} holds a run with another config '
                       f'(differs in: {", ".join(changed)}); use a new '
                       '--workdir or delete it')
  with open(path + '.tmp', 'w') as f:
    json.dump(metrics.jsonable(config.to_dict()), f, indent=1)
  os.replace(path + '.tmp', path)


def evolve_source(key, config, workdir: str):
  """Evolve on all of the (pooled) source corpora: (result, source set)."""
  spec = '+'.join(config.sources)
  src = data.load_corpus(spec, config)
  stats = normalize.fit_normalizer(src.x, config.normalize, speaker=src.speaker)
  x = normalize.apply_normalizer(stats, src.x, speaker=src.speaker)
  logging.info('source %s: %d rows, %d classes', spec, len(src),
               len(src.class_names))
  result = evolve.evolve(
      key, config, x, src.label, num_classes=len(src.class_names),
      workdir=os.path.join(workdir, 'source', 'checkpoints'),
      augment=augment_lib.from_config(config),
      progress=_log_progress('source', config.evolution.generations))
  return result, src


def test_log_probs(config, params, genotype, frozen_slots, x_test):
  """[n, C] log-probabilities of the best pathway (frozen modules joined)."""
  always = (None, None) if frozen_slots is None else frozen_slots
  idx, w = pathway.slots(jnp.asarray(genotype), *always)
  return np.asarray(train_lib.log_probs(
      params, idx, w, jnp.asarray(x_test),
      batch_size=int(config.optim.eval_batch_size),
      aggregate=config.model.aggregate, compute=config.model.compute))


def run_fold(i, key, config, fs, train_rows, test_rows, workdir, source):
  """Evolve on one training fold and score its test fold."""
  fold_dir = os.path.join(workdir, f'fold_{i}')
  scores_path = os.path.join(fold_dir, 'scores.json')
  if os.path.exists(scores_path):  # finished earlier: a rerun resumes here
    with open(scores_path) as f:
      return json.load(f), None
  t0 = time.perf_counter()
  # 'speaker' mode: statistics from every row of each speaker, test ones too.
  stats = normalize.fit_normalizer(fs.x, config.normalize, rows=train_rows,
                                   speaker=fs.speaker)
  prep = lambda rows: normalize.apply_normalizer(stats, fs.x[rows],
                                                 speaker=fs.speaker[rows])
  fit_rows, fitness_rows = train_rows, None
  if config.fitness == 'validation':
    fit_rows, fitness_rows = splits.validation_split(
        train_rows, fs.utterance, fs.label, config.validation_fraction,
        config.seed + i)
  x_fit = prep(fit_rows)
  num_classes = len(fs.class_names)
  frozen = init_params = None
  if source is not None:
    frozen, init_params = transfer.freeze(
        source.params, source.best_genotype, config,
        key=jax.random.fold_in(key, 1), num_classes=num_classes)
  fitness_x = fitness_y = None
  if fitness_rows is not None:
    fitness_x = prep(fitness_rows)
    fitness_y = fs.label[fitness_rows]
  result = evolve.evolve(
      key, config, x_fit, fs.label[fit_rows], frozen=frozen,
      init_params=init_params, num_classes=num_classes,
      workdir=os.path.join(fold_dir, 'checkpoints'), fitness_x=fitness_x,
      fitness_y=fitness_y, augment=augment_lib.from_config(config),
      progress=_log_progress(f'fold {i}', config.evolution.generations))
  train_s = time.perf_counter() - t0
  lp = test_log_probs(config, result.params, result.best_genotype,
                      result.frozen_slots,
                      prep(test_rows))
  y_test = fs.label[test_rows]
  scores = {
      'fold': i, 'n_train_rows': int(fit_rows.size),
      'n_fitness_rows': int(fitness_rows.size if fitness_rows is not None
                            else fit_rows.size),
      'n_test_rows': int(test_rows.size),
      'segment': metrics.segment_scores(y_test, lp.argmax(1), num_classes),
      'utterance': metrics.utterance_scores(lp, y_test,
                                            fs.utterance[test_rows],
                                            num_classes),
      'best_genotype': result.best_genotype, 'best_fitness': result.best_fitness,
      'history': {k: v for k, v in result.history.items()},
      'steps_per_pathway': result.steps_per_pathway,
      'train_s': train_s, 'eval_s': time.perf_counter() - t0 - train_s,
  }
  scores = metrics.jsonable(scores)
  os.makedirs(fold_dir, exist_ok=True)
  with open(scores_path + '.tmp', 'w') as f:
    json.dump(scores, f)
  os.replace(scores_path + '.tmp', scores_path)
  print(f"fold {i}: segment WA {scores['segment']['wa']:.3f} | utterance WA "
        f"{scores['utterance']['wa']:.3f} UA {scores['utterance']['ua']:.3f} "
        f'({train_s:.0f}s)', flush=True)
  return scores, (result, stats)


def save_model(model_dir, config, params, genotype, frozen_slots, stats,
               class_names) -> None:
  """What predict.py needs: parameters, pathway, normaliser, class names."""
  os.makedirs(model_dir, exist_ok=True)
  path = os.path.abspath(os.path.join(model_dir, 'params'))
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(path, params, force=True)
  np.savez(os.path.join(model_dir, 'normalizer.npz'), mode=stats.mode,
           mean=stats.mean, std=stats.std)
  meta = {'genotype': np.asarray(genotype).tolist(),
          'frozen_slots': (None if frozen_slots is None else
                           [np.asarray(a).tolist() for a in frozen_slots]),
          'class_names': list(class_names),
          'feature_params': data.feature_params(config.modality),
          'config': config.to_dict()}
  with open(os.path.join(model_dir, 'meta.json'), 'w') as f:
    json.dump(metrics.jsonable(meta), f, indent=1)


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
  return '\n'.join(lines)


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  """Cross-validated evolution (and transfer) on config.target."""
  check_config(config)
  start = time.perf_counter()
  fs = data.load_corpus(config.target, config)
  folds, chosen = fold_plan(config, fs)
  claim_workdir(config, workdir)
  key_source, key_folds = jax.random.split(jax.random.key(config.seed))
  timings = {'load_s': time.perf_counter() - start}

  source, source_history, source_best = None, None, None
  if config.task != 'scratch':
    t0 = time.perf_counter()
    source, src = evolve_source(key_source, config, workdir)
    timings['source_s'] = time.perf_counter() - t0
    source_history = {k: v.tolist() for k, v in source.history.items()}
    source_best = {'genotype': source.best_genotype,
                   'fitness': source.best_fitness, 'n_rows': len(src),
                   'class_names': list(src.class_names)}
    logging.info('source best fitness %.3f in %.0fs', source.best_fitness,
                 timings['source_s'])

  fold_scores, first = [], None
  for i in chosen:
    train_rows, test_rows = folds[i]
    scores, trained = run_fold(i, jax.random.fold_in(key_folds, i), config,
                               fs, train_rows, test_rows, workdir, source)
    fold_scores.append(scores)
    if first is None and trained is not None:
      first = trained

  aggregate = {lvl: metrics.aggregate_folds([s[lvl] for s in fold_scores])
               for lvl in ('segment', 'utterance')}
  timings['total_s'] = time.perf_counter() - start
  results = {
      'task': config.task, 'target': config.target,
      'sources': list(config.sources), 'protocol': config.protocol,
      'n_folds': len(chosen), 'n_folds_total': len(folds), 'seed': config.seed,
      'class_names': list(fs.class_names), 'n_rows': len(fs),
      'n_utterances': int(np.unique(fs.utterance).size),
      'device': jax.devices()[0].device_kind, 'git_commit': git_commit(),
      'config': config.to_dict(), 'folds': fold_scores, 'aggregate': aggregate,
      'source_history': source_history, 'source_best': source_best,
      'timings': timings,
  }
  with open(os.path.join(workdir, 'results.json'), 'w') as f:
    json.dump(metrics.jsonable(results), f, indent=1)
  with open(os.path.join(workdir, 'summary.md'), 'w') as f:
    f.write(summary_markdown(results))
  plots.plot_confusion(np.asarray(aggregate['utterance']['confusion']),
                       fs.class_names, os.path.join(workdir, 'confusion.png'),
                       f'{config.target} ({config.protocol}), utterance level')
  curves = {f'target fold {s["fold"]}': {
      'best': s['history']['best_fitness'], 'mean': s['history']['mean_fitness']}
            for s in fold_scores[:1]}
  if source_history is not None:
    curves = {'source': {'best': source_history['best_fitness'],
                         'mean': source_history['mean_fitness']}, **curves}
  plots.plot_fitness(curves, os.path.join(workdir, 'fitness.png'))
  if first is not None:
    result, stats = first
    save_model(os.path.join(workdir, 'model'), config, result.params,
               result.best_genotype, result.frozen_slots, stats,
               fs.class_names)
  return results


def run(config, workdir: str) -> int:
  """train_and_evaluate for the command line: exit code 0, or 1 after one
  `error: ...` line on stderr for a bad config, corpus or workdir."""
  try:
    results = train_and_evaluate(config, workdir)
  except (ValueError, FileNotFoundError) as e:
    print(f'error: {e}', file=sys.stderr, flush=True)
    return 1
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
      'config', os.path.join(os.path.dirname(__file__), 'configs', 'demo.py'),
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
  sys.exit(run(f.config, f.workdir))


if __name__ == '__main__':
  define_flags()
  app.run(main)
