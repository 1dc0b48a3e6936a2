r"""Throughput, device scaling and PathNet vs fine-tuning, measured here.

  python -m experiments.benchmark [--out bench.json] [--quick]
      [--items=reference --compare_rev=REV --rounds=3]

Prints markdown tables and writes every number to JSON. Each figure is a time
or a ratio of times measured in this one process (on CPU the benchmark
re-runs itself once with `--fake_devices` host devices so device scaling can
be measured; single-device figures use device 0 of that process):

  0 reference    one paper generation: this code vs a sequential NumPy
                 PathNet (one pathway at a time, active modules only) and,
                 with --compare_rev, vs an earlier revision of this code;
                 the `improved` config vs that revision too
                 (experiments/benchmarks/speedup.py)
  1 throughput   pathway-steps/s of the paper's model: one pathway per call,
                 the tournament pair in one call, P pathways in one call
                 ('gather' and 'dense' layer-1 compute)
  2 flops        executed FLOP/s of those steps / a plain jnp.dot of the
                 layer-1 shape on the same device
  3 generation   one paper generation on an EMO-DB fold, a shortened run,
                 the 5-fold G=200 time extrapolated from it, peak memory,
                 and time to a training fitness vs tournaments per generation
  4 transfer     PathNet transfer vs the fine-tuning CNN on the same fold
  5 scaling      pathway-steps/s on 1, 2, 4, 8 devices
  6 protocol     whole protocols end to end (experiments.train on cached
                 EMO-DB features): every fold and seed batched vs one run
                 at a time (--compare_rev), alternated
                 (experiments/benchmarks/protocol.py; ~1 h on 2 CPU cores)

`--quick` shrinks every size (tests); its numbers mean nothing.
"""
from __future__ import annotations

import dataclasses
import functools
import glob
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from data_prep import store
from experiments.lib import cnn
from experiments import finetune
from experiments.lib import normalize
from experiments.lib import splits
from experiments.benchmarks import protocol as protocol_item
from experiments.benchmarks import speedup
from experiments.configs import default
from experiments.configs import finetune as finetune_config
from pathnet_jax import evolve
from pathnet_jax import generation as gen_lib
from pathnet_jax import metrics
from pathnet_jax import model as model_lib
from pathnet_jax import parallel
from pathnet_jax import pathway
from pathnet_jax import train as train_lib
from pathnet_jax import transfer

ITEMS = ('reference', 'generation', 'throughput', 'scaling', 'transfer',
         'faces', 'protocol')
# Items run only when --items names them (they take long).
ON_REQUEST = ('protocol',)
FAKE_DEVICES_FLAG = '--xla_force_host_platform_device_count'


@dataclasses.dataclass(frozen=True)
class Sizes:
  """Everything the benchmark sizes; PAPER is the real one, TINY for tests."""
  example_shape: tuple[int, ...] = (64, 64, 3)
  num_layers: int = 3
  num_modules: int = 20
  module_units: int = 20
  max_active: int = 4
  batch_size: int = 64
  num_classes: int = 7
  population: int = 20
  rows: int = 2048  # data rows of the throughput runs
  pathway_counts: tuple[int, ...] = (8, 20, 64)
  dense_counts: tuple[int, ...] = (1, 8, 20)
  work: int = 32  # pathway-steps per timed call (>= 2 steps)
  reps: int = 2  # timed calls after the compiling one; the fastest counts
  fallback_train_rows: int = 3000  # item 3 without EMO-DB features
  paper_generations: int = 200
  n_folds: int = 5
  fitness_tournaments: tuple[int, ...] = (1, 10)  # 1 = the paper
  fitness_budget_s: float = 40.0  # per setting, after its compile
  transfer_generations: int = 40  # paper: 200; PathNet needs ~40 to learn
  cnn_epochs: int = 5
  scaling_pathways: int = 8
  finetune_preset: str = ''
  gemm_size: int = 4096  # n of the n×n×n product that measures GEMM peak


PAPER = Sizes()
TINY = Sizes(example_shape=(8, 8, 3), num_layers=2, num_modules=6,
             module_units=8, max_active=2, batch_size=16, num_classes=3,
             population=6, rows=128, pathway_counts=(4,), dense_counts=(4,),
             work=4, reps=1, fallback_train_rows=96, n_folds=3,
             fitness_tournaments=(1, 3), fitness_budget_s=0.5, transfer_generations=2, cnn_epochs=1,
             scaling_pathways=4, finetune_preset='tiny', gemm_size=64)


# --------------------------------------------------------------------------
# Configs, data and timing


def pathnet_config(sizes: Sizes, **evolution) -> ml_collections.ConfigDict:
  """The paper's config (experiments/configs/default.py) at these sizes."""
  c = default.get_config()
  c.model.num_layers = sizes.num_layers
  c.model.num_modules = sizes.num_modules
  c.model.module_units = sizes.module_units
  c.model.max_active = sizes.max_active
  c.evolution.population_size = sizes.population
  c.evolution.checkpoint_every = 0
  c.optim.batch_size = sizes.batch_size
  for k, v in evolution.items():
    c.evolution[k] = v
  return c


def blob_features(sizes: Sizes, n: int, seed: int = 0) -> store.FeatureSet:
  """Separable Gaussian blobs as a FeatureSet: 2 segments per utterance,
  4 speakers (2 f, 2 m). Stands in for corpora in --quick runs."""
  rng = np.random.default_rng(seed)
  d = math.prod(sizes.example_shape)
  centers = rng.normal(size=(sizes.num_classes, d)) * 2.0
  utt = np.arange(n) // 2
  label = (utt % sizes.num_classes).astype(np.int32)
  x = centers[label] + rng.normal(size=(n, d))
  speaker = np.array([f'S{u % 4}' for u in utt])
  return store.FeatureSet(
      x=x.reshape((n,) + sizes.example_shape).astype(np.float32), label=label,
      utterance=utt.astype(np.int32), speaker=speaker,
      corpus=np.full(n, 'blobs'),
      sex=np.where(np.isin(speaker, ['S0', 'S2']), 'f', 'm'),
      class_names=tuple(f'c{i}' for i in range(sizes.num_classes)),
      utterance_ids=tuple(f'u{i}' for i in range(int(utt.max()) + 1)))


def find_features(pattern: str = os.path.join('features',
                                              'emodb_audio*.npz')) -> str:
  """The newest cached EMO-DB FeatureSet under the working directory, or ''."""
  found = sorted(glob.glob(pattern), key=os.path.getmtime)
  return found[-1] if found else ''


def normalized_fold(fs: store.FeatureSet, n_splits: int, seed: int = 0):
  """Fold 0 of the paper's protocol: (x_train, y_train, x_test, y_test,
  utterance_test), standardised with training-row statistics."""
  train_rows, test_rows = splits.random_kfold(fs, n_splits, seed)[0]
  stats = normalize.fit_normalizer(fs.x, 'pixel', rows=train_rows)
  return (normalize.apply_normalizer(stats, fs.x[train_rows]),
          fs.label[train_rows],
          normalize.apply_normalizer(stats, fs.x[test_rows]),
          fs.label[test_rows], fs.utterance[test_rows])


def timed(fn: Callable, *args, reps: int = 2) -> dict[str, float]:
  """{'first_s': compile + one call, 'best_s': fastest of `reps` more}."""
  t0 = time.perf_counter()
  jax.block_until_ready(fn(*args))
  first = time.perf_counter() - t0
  times = []
  for _ in range(max(1, reps)):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return {'first_s': first, 'best_s': min(times)}


def peak_rss_mb() -> float:
  """Peak resident memory of this process so far (Linux: ru_maxrss in KiB)."""
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return rss / 1024.0 if sys.platform != 'darwin' else rss / 2 ** 20


def machine() -> dict[str, Any]:
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      names = [l.split(':', 1)[1].strip() for l in f if
               l.startswith('model name')]
    cpu = names[0] if names else cpu
  except OSError:
    pass
  dev = jax.devices()[0]
  return {'cpu': cpu, 'cpu_cores': os.cpu_count(), 'platform': dev.platform,
          'device_kind': dev.device_kind, 'device_count': jax.device_count(),
          'process_count': jax.process_count(), 'jax': jax.__version__,
          'python': platform.python_version(),
          'load_average_start': list(os.getloadavg())}


# --------------------------------------------------------------------------
# Items 1, 2 and 5: pathway-steps per second


def flops_per_pathway_step(sizes: Sizes, compute: str,
                           mode: str = 'sequential') -> float:
  """Executed FLOPs of one SGD step of one pathway.

  Layer 1 (d = 12288 inputs for the paper) is a forward matmul and a
  weight gradient (inputs need no gradient); deeper layers and the head add
  forward, weight and input gradients. 'gather' computes the N active
  modules; 'dense' in 'sequential' mode all M of them (the pathway's slice
  is the whole stack), in 'parallel' mode only the N a pathway takes from
  the shared all-M slice.
  """
  b, u, c = sizes.batch_size, sizes.module_units, sizes.num_classes
  all_m = compute == 'dense' and mode == 'sequential'
  k = sizes.num_modules if all_m else sizes.max_active
  d = math.prod(sizes.example_shape)
  layer1 = 4 * b * d * k * u
  deeper = (sizes.num_layers - 1) * 6 * b * u * k * u
  return float(layer1 + deeper + 6 * b * u * c)


def dot_peak(sizes: Sizes, compute: str, reps: int = 30) -> float:
  """FLOP/s of a plain jnp.dot of the layer-1 shape [B, d] @ [d, K*U]."""
  k = sizes.max_active if compute == 'gather' else sizes.num_modules
  d = math.prod(sizes.example_shape)
  a = jnp.ones((sizes.batch_size, d), jnp.float32)
  w = jnp.ones((d, k * sizes.module_units), jnp.float32)
  t = timed(jax.jit(jnp.dot), a, w, reps=reps)['best_s']
  return 2.0 * sizes.batch_size * d * k * sizes.module_units / t


def gemm_peak(n: int, reps: int = 3) -> float:
  """FLOP/s of a large square float32 product [n, n] @ [n, n] at JAX's
  default precision (TF32 passes on recent NVIDIA GPUs): the machine's
  GEMM peak for the model's dtype. The layer-1 dot above is the right bar
  on a CPU; on a GPU one small dot per call is launch-bound and this is."""
  a, b = jax.random.normal(jax.random.key(0), (2, n, n), jnp.float32)
  t = timed(jax.jit(jnp.dot), a, b, reps=reps)['best_s']
  return 2.0 * n ** 3 / t


def train_call(sizes: Sizes, num_pathways: int, mode: str, compute: str,
               steps: int, mesh=None):
  """(jitted fn, its args): train `num_pathways` pathways `steps` steps.

  With a mesh the call is sharded exactly as gen_lib.generation shards it.
  """
  cfg = pathnet_config(sizes)
  tx = train_lib.make_optimizer(cfg)
  d = math.prod(sizes.example_shape)
  k_data, k_init, k_gen, k_paths = jax.random.split(jax.random.key(0), 4)
  x = jax.random.normal(k_data, (sizes.rows,) + sizes.example_shape)
  y = jnp.arange(sizes.rows, dtype=jnp.int32) % sizes.num_classes
  params = model_lib.init(k_init, cfg, d, sizes.num_classes)
  genotypes = pathway.random_genotypes(k_gen, num_pathways, sizes.num_layers,
                                       sizes.max_active, sizes.num_modules)
  indices, weights = pathway.slots(genotypes)
  frozen = jnp.zeros((sizes.num_layers, sizes.num_modules), bool)
  fn = functools.partial(
      train_lib.train_pathways, tx=tx, frozen=frozen, num_steps=steps,
      batch_size=sizes.batch_size, mode=mode, compute=compute)

  def call(params, opt_state, indices, weights, x, y, key_data):
    keys = jax.random.split(jax.random.wrap_key_data(key_data), num_pathways)
    augment = None
    if mesh is not None:
      indices, weights, keys, augment = parallel.shard_training(
          mesh, indices, weights, keys)
    return fn(params, opt_state, indices, weights, x, y, keys,
              augment=augment)

  args = (params, tx.init(params), indices, weights, x, y,
          jax.random.key_data(k_paths))
  if mesh is not None:
    args = parallel.place(args, parallel.replicated(mesh))
  return jax.jit(call), args


def steps_for(sizes: Sizes, num_pathways: int) -> int:
  return max(2, sizes.work // num_pathways)


def pathway_rate(sizes: Sizes, num_pathways: int, mode: str, compute: str,
                 mesh=None) -> dict[str, Any]:
  """Pathway-steps per second of one call training P pathways."""
  steps = steps_for(sizes, num_pathways)
  fn, args = train_call(sizes, num_pathways, mode, compute, steps, mesh)
  t = timed(fn, *args, reps=sizes.reps)
  rate = num_pathways * steps / t['best_s']
  return {'pathways': num_pathways, 'mode': mode, 'compute': compute,
          'steps_per_call': steps, 'call_s': t['best_s'],
          'compile_s': max(0.0, t['first_s'] - t['best_s']),
          'pathway_steps_per_s': rate,
          'gflop_per_s': rate * flops_per_pathway_step(sizes, compute,
                                                       mode) / 1e9}


def layer1_kernels(sizes: Sizes, num_pathways: int) -> list[dict[str, Any]]:
  """Forward + weight gradient of layer 1 alone for P pathways, three ways.

  Isolates the matmul formulation from the rest of the step: the vmapped
  gather (what train.py's 'parallel' mode compiles to: a batched dot), the
  same gather as a `lax.map` over pathways (P plain dots), and the dense
  all-modules product (one big dot, M/N times the FLOPs).
  """
  p, b, d = num_pathways, sizes.batch_size, math.prod(sizes.example_shape)
  m, k, u = sizes.num_modules, sizes.max_active, sizes.module_units
  keys = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(keys[0], (p, b, d))
  w = jax.random.normal(keys[1], (m, d, u))
  idx = jax.random.randint(keys[2], (p, k), 0, m)
  one = lambda xp, ip, w: jnp.einsum('bd,kdu->bku', xp, w[ip])
  # train.py's layout: each pathway's slice [K, U, d] gathered once.
  slice_w = jnp.swapaxes(w[idx], 2, 3)  # [P, K, U, d]
  kernels = {
      'vmap gather': (lambda w: jnp.sum(jax.vmap(one, (0, 0, None))(
          x, idx, w) ** 2), k),
      'lax.map gather': (lambda w: jnp.sum(jax.lax.map(
          lambda a: one(*a, w), (x, idx)) ** 2), k),
      'dense': (lambda w: jnp.sum(jnp.einsum('pbd,mdu->pbmu', x, w) ** 2), m),
      'slice [K, U, d] (train.py)': (lambda s: jnp.sum(jax.lax.map(
          lambda a: jnp.einsum('bd,kud->bku', *a), (x, s)) ** 2), k),
  }
  rows = []
  for name, (loss, width) in kernels.items():
    arg = slice_w if name.startswith('slice') else w
    t = timed(jax.jit(jax.grad(loss)), arg, reps=sizes.reps + 1)['best_s']
    rows.append({'kernel': name, 'pathways': p,
                 'useful_gflop_per_s': 4 * p * b * d * k * u / t / 1e9,
                 'executed_gflop_per_s': 4 * p * b * d * width * u / t / 1e9})
  return rows


def bench_throughput(sizes: Sizes) -> dict[str, Any]:
  """Items 1 and 2 for both layer-1 computes."""
  peaks = {c: dot_peak(sizes, c) for c in model_lib.COMPUTES}
  rows = []
  for compute in model_lib.COMPUTES:
    cases = [(1, 'sequential', 'one pathway per call'),
             (2, 'sequential', 'tournament pair in one call (paper order)'),
             (2, 'parallel', 'tournament pair in one call (parallel)')]
    cases += [(p, 'parallel', f'{p} pathways in one call')
              for p in sizes.pathway_counts]
    if compute == 'dense':  # 5x the FLOPs: only where it could still win
      cases = [c for c in cases if c[0] in sizes.dense_counts]
    base = None
    for p, mode, label in cases:
      row = {'case': label, **pathway_rate(sizes, p, mode, compute)}
      base = base or row['pathway_steps_per_s']
      row['speedup_vs_one_per_call'] = row['pathway_steps_per_s'] / base
      rows.append(row)
      logging.info('%s', row)
  # Measured again after the steps: on a shared machine the faster of the
  # two readings is the better estimate of the peak.
  peaks = {c: max(v, dot_peak(sizes, c)) for c, v in peaks.items()}
  gemm = gemm_peak(sizes.gemm_size)
  for r in rows:
    shape = ('dense' if r['compute'] == 'dense' and r['mode'] == 'sequential'
             else 'gather')  # the matmul shape the step executes
    r['fraction_of_dot_peak'] = r['gflop_per_s'] * 1e9 / peaks[shape]
    r['fraction_of_gemm_peak'] = r['gflop_per_s'] * 1e9 / gemm
  gather1 = next(r for r in rows if r['compute'] == 'gather' and
                 r['pathways'] == 1)['pathway_steps_per_s']
  for r in rows:
    r['speedup_vs_gather_one_per_call'] = r['pathway_steps_per_s'] / gather1
  kernels = layer1_kernels(sizes, max(sizes.pathway_counts[:2]))
  for r in kernels:
    r['fraction_of_dot_peak'] = (r['executed_gflop_per_s'] * 1e9 /
                                 peaks['dense' if r['kernel'] == 'dense'
                                       else 'gather'])
    r['fraction_of_gemm_peak'] = r['executed_gflop_per_s'] * 1e9 / gemm
  return {'rows': rows, 'layer1_kernels': kernels, 'dot_peak_gflop_per_s':
          {c: v / 1e9 for c, v in peaks.items()},
          'gemm_size': sizes.gemm_size, 'gemm_peak_gflop_per_s': gemm / 1e9}


def bench_scaling(sizes: Sizes) -> dict[str, Any]:
  """Item 5: P pathways ('parallel', gather) sharded over 1, 2, 4, 8 devices."""
  devices = jax.devices()
  counts = [c for c in (1, 2, 4, 8) if c <= len(devices)]
  rows = []
  for count in counts:
    mesh = parallel.make_mesh(sizes.scaling_pathways, devices[:count])
    row = pathway_rate(sizes, sizes.scaling_pathways, 'parallel', 'gather',
                       mesh)
    rows.append({'devices': count, 'mesh': dict(mesh.shape), **row})
  for r in rows:
    r['speedup_vs_1_device'] = (r['pathway_steps_per_s'] /
                                rows[0]['pathway_steps_per_s'])
  return {'device_kind': devices[0].device_kind,
          'fake_cpu_devices': devices[0].platform == 'cpu' and len(devices) > 1,
          'rows': rows}


# --------------------------------------------------------------------------
# Item 3: generations, the 5-fold run, time to a training fitness


def time_to_fitness(seconds: Sequence[float], best: Sequence[float],
                    target: float) -> float | None:
  """Wall seconds until the best fitness first reaches `target` (history
  arrays of one run: per-generation seconds and best fitness), or None."""
  reached = np.flatnonzero(np.asarray(best) >= target)
  if reached.size == 0:
    return None
  return float(np.cumsum(seconds)[reached[0]])


def fitness_race(config, x, y, x_test, budget_s: float) -> dict[str, Any]:
  """Generations of `config` on (x, y) for about `budget_s` seconds.

  The loop evolve.evolve runs (jitted generation, one summary back per
  generation), compiled ahead of time so compile and generation times are
  separate, plus the test-set scoring of the best pathway a fold ends with.
  """
  tx = train_lib.make_optimizer(config)
  params = model_lib.init(jax.random.key(0), config, x.shape[1:],
                          int(np.max(y)) + 1)
  state = gen_lib.init_state(jax.random.key(1), config, params, tx)
  fn, steps = gen_lib.make_generation_fn(config, tx, x.shape[0])
  xd, yd = jnp.asarray(x), jnp.asarray(y, jnp.int32)
  frozen = jnp.zeros((config.model.num_layers, config.model.num_modules), bool)
  t0 = time.perf_counter()
  fn = fn.lower(state, xd, yd, xd, yd, frozen, None, None).compile()
  compile_s = time.perf_counter() - t0
  seconds, best = [], []
  while (sum(seconds) < budget_s and
         len(seconds) < int(config.evolution.generations)):
    t0 = time.perf_counter()
    state, summary = fn(state, xd, yd, xd, yd, frozen, None, None)
    best.append(float(summary['best_fitness']))
    seconds.append(time.perf_counter() - t0)
  t0 = time.perf_counter()
  idx, w = pathway.slots(state.ga.best_genotype)
  jax.block_until_ready(train_lib.log_probs(state.params, idx, w,
                                            jnp.asarray(x_test)))
  tournaments = int(config.evolution.tournaments_per_generation)
  return {'tournaments': tournaments, 'mode': config.evolution.train_mode,
          'steps_per_pathway': steps, 'generations': len(seconds),
          'pathways_trained': len(seconds) * 2 * tournaments,
          'compile_s': compile_s,
          'generation_s': float(np.median(seconds)),
          'test_eval_s': time.perf_counter() - t0,
          'seconds': seconds, 'best_fitness': best,
          'peak_rss_mb': peak_rss_mb()}


def extrapolate(race: dict[str, Any], generations: int, folds: int) -> float:
  """Seconds for `folds` folds of `generations` generations (EXTRAPOLATED
  from one race: compile once per fold, steady generations, test scoring)."""
  return folds * (race['compile_s'] + generations * race['generation_s'] +
                  race['test_eval_s'])


def bench_generation(sizes: Sizes, fs: store.FeatureSet | None
                     ) -> dict[str, Any]:
  """Item 3 on fold 0 of `fs` (or EMO-DB-sized random rows when None).

  For each tournaments-per-generation setting (1 = the paper: K=2,
  'sequential'; more = 'parallel', all pathways in one call) generations run
  for a wall-clock budget; the 5-fold run is extrapolated from them with the
  paper's budget of pathway trainings (G=200 for one tournament).
  """
  if fs is not None:
    x, y, x_test, _, _ = normalized_fold(fs, sizes.n_folds)
    data = f'EMO-DB fold 0 of {sizes.n_folds} (utterance-grouped)'
  else:
    n = sizes.fallback_train_rows
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n,) + sizes.example_shape).astype(np.float32)
    y = (np.arange(n) % sizes.num_classes).astype(np.int32)
    x_test = x[:n // 4]
    data = f'{n} random rows (no EMO-DB features found)'
  budget = 2 * sizes.paper_generations  # pathway trainings, as the paper
  races = []
  for t in sizes.fitness_tournaments:
    cfg = pathnet_config(
        sizes, train_mode='sequential' if t == 1 else 'parallel',
        tournaments_per_generation=t, generations=budget // (2 * t))
    race = fitness_race(cfg, x, y, x_test, sizes.fitness_budget_s)
    race['full_generations'] = budget // (2 * t)
    race['folds_extrapolated_s'] = extrapolate(race, budget // (2 * t),
                                               sizes.n_folds)
    races.append(race)
  # The best fitness every setting reached within its budget.
  finals = [max(r['best_fitness']) for r in races]
  target = math.floor(100 * min(finals)) / 100
  for r in races:
    r['seconds_to_target'] = time_to_fitness(r['seconds'], r['best_fitness'],
                                             target)
  return {'data': data, 'n_train': int(x.shape[0]),
          'n_test': int(x_test.shape[0]), 'folds': sizes.n_folds,
          'pathway_trainings': budget, 'target_fitness': target,
          'budget_s': sizes.fitness_budget_s, 'runs': races,
          'peak_rss_mb': peak_rss_mb()}


# --------------------------------------------------------------------------
# Item 4: PathNet transfer vs the fine-tuning CNN


def bench_transfer(sizes: Sizes, fs: store.FeatureSet) -> dict[str, Any]:
  """Source = male speakers, target = female speakers (fold 0 of the target).

  Both methods see the same rows: the source set whole, the target fold's
  training rows, and are scored on the target fold's test rows.
  """
  src_rows = np.flatnonzero(fs.sex == 'm')
  tgt = store.select(fs, np.flatnonzero(fs.sex == 'f'))
  src_stats = normalize.fit_normalizer(fs.x[src_rows], 'pixel')
  xs = normalize.apply_normalizer(src_stats, fs.x[src_rows])
  ys = fs.label[src_rows]
  x, y, x_test, y_test, utt_test = normalized_fold(tgt, sizes.n_folds)
  c = len(fs.class_names)

  def scores(log_probs):
    return {'segment_wa': metrics.segment_scores(
        y_test, log_probs.argmax(1), c)['wa'],
            'utterance_wa': metrics.utterance_scores(
                log_probs, y_test, utt_test, c)['wa']}

  cfg = pathnet_config(sizes, generations=sizes.transfer_generations)
  t0 = time.perf_counter()
  src = evolve.evolve(jax.random.key(0), cfg, xs, ys, num_classes=c)
  frozen, params = transfer.freeze(src.params, src.best_genotype, cfg,
                                   key=jax.random.key(1), num_classes=c)
  tgt_run = evolve.evolve(jax.random.key(2), cfg, x, y, frozen=frozen,
                          init_params=params, num_classes=c)
  idx, w = pathway.slots(jnp.asarray(tgt_run.best_genotype),
                         *(tgt_run.frozen_slots or (None, None)))
  lp = np.asarray(train_lib.log_probs(tgt_run.params, idx, w,
                                      jnp.asarray(x_test)))
  pathnet = {'method': 'PathNet transfer', 'wall_s': time.perf_counter() - t0,
             'budget': f'{sizes.transfer_generations} generations on source '
                       f'and on target (paper: 200)', **scores(lp)}

  fcfg = finetune_config.get_config(sizes.finetune_preset)
  fcfg.epochs = fcfg.pretrain_epochs = sizes.cnn_epochs
  t0 = time.perf_counter()
  result = finetune.pretrain_then_finetune(jax.random.key(3), fcfg, (xs, ys),
                                           (x, y), (c, c))
  lp = cnn.predict_log_probs(result.params, x_test, fcfg)
  cnn_row = {'method': 'fine-tuned CNN', 'wall_s': time.perf_counter() - t0,
             'budget': f'{sizes.cnn_epochs} epochs pre-training + '
                       f'{sizes.cnn_epochs} fine-tuning', **scores(lp)}
  return {'source': 'male speakers', 'target': 'female speakers, fold 0',
          'n_source': int(src_rows.size), 'n_train': int(x.shape[0]),
          'n_test': int(x_test.shape[0]), 'rows': [pathnet, cnn_row]}


# --------------------------------------------------------------------------
# Report


def _f(v, spec='.1f'):
  return '—' if v is None else format(v, spec)


def markdown(results: dict[str, Any]) -> str:
  """The tables docs/speed.md records."""
  m = results['machine']
  out = [f"Machine: {m['cpu']}, {m['cpu_cores']} cores, {m['device_count']} "
         f"{m['platform']} device(s) ({m['device_kind']}), jax {m['jax']}, "
         f"load average at start {m['load_average_start'][0]:.1f}", '']
  if 'reference' in results:
    out += speedup.markdown(results['reference'])
  if 'throughput' in results:
    th = results['throughput']
    peaks = ', '.join(f'{k} {v:.1f}' for k, v in
                      th['dot_peak_gflop_per_s'].items())
    out += ['### 1–2. Pathway-steps per second (paper model, batch 64)', '',
            f'jnp.dot layer-1 peak, GFLOP/s: {peaks}; machine GEMM peak '
            f"(float32 {th['gemm_size']}² product): "
            f"{th['gemm_peak_gflop_per_s']:.1f}", '',
            '| case | P | mode | compute | pathway-steps/s | × one per call '
            '| GFLOP/s | of dot peak | of GEMM peak |',
            '|---|---|---|---|---|---|---|---|---|']
    for r in th['rows']:
      out.append(
          f"| {r['case']} | {r['pathways']} | {r['mode']} | {r['compute']} | "
          f"{r['pathway_steps_per_s']:.1f} | "
          f"{r['speedup_vs_gather_one_per_call']:.2f} | "
          f"{r['gflop_per_s']:.1f} | {100 * r['fraction_of_dot_peak']:.0f}% | "
          f"{100 * r['fraction_of_gemm_peak']:.1f}% |")
    out += ['', 'Layer 1 alone (forward + weight gradient):', '',
            '| kernel | P | useful GFLOP/s | executed GFLOP/s | of dot peak '
            '| of GEMM peak |', '|---|---|---|---|---|---|']
    for r in th['layer1_kernels']:
      out.append(f"| {r['kernel']} | {r['pathways']} | "
                 f"{r['useful_gflop_per_s']:.1f} | "
                 f"{r['executed_gflop_per_s']:.1f} | "
                 f"{100 * r['fraction_of_dot_peak']:.0f}% | "
                 f"{100 * r['fraction_of_gemm_peak']:.1f}% |")
    out.append('')
  if 'generation' in results:
    g = results['generation']
    out += ['### 3. Generations and the 5-fold A_EMO run', '',
            f"{g['data']}: {g['n_train']} training rows; each setting ran "
            f"~{g['budget_s']:.0f} s after compiling. The {g['folds']}-fold "
            f"times are EXTRAPOLATED (compile + G generations + test scoring "
            f"per fold) at the paper's budget of {g['pathway_trainings']} "
            'pathway trainings per fold.', '',
            '| tournaments / generation | mode | T | s / generation | '
            f"pathway-steps/s | compile s | G | {g['folds']}-fold "
            '(extrapolated) | '
            f"s to fitness {g['target_fitness']:.2f} | best fitness | "
            'peak RSS MB |', '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in g['runs']:
      rate = 2 * r['tournaments'] * r['steps_per_pathway'] / r['generation_s']
      out.append(
          f"| {r['tournaments']} | {r['mode']} | {r['steps_per_pathway']} | "
          f"{r['generation_s']:.2f} | {rate:.0f} | "
          f"{r['compile_s']:.1f} | "
          f"{r['full_generations']} | "
          f"{r['folds_extrapolated_s'] / 60:.1f} min | "
          f"{_f(r['seconds_to_target'])} | {max(r['best_fitness']):.3f} | "
          f"{r['peak_rss_mb']:.0f} |")
    out += ['', 'Peak RSS: of the whole process so far (corpus loaded, '
            'settings run in table order).', '']
  if 'transfer' in results:
    t = results['transfer']
    out += [f"### 4. Transfer {t['source']} → {t['target']} "
            f"({t['n_source']} source, {t['n_train']} train, {t['n_test']} "
            'test rows)', '',
            '| method | budget | segment WA | utterance WA | wall s |',
            '|---|---|---|---|---|']
    for r in t['rows']:
      out.append(f"| {r['method']} | {r['budget']} | {r['segment_wa']:.3f} | "
                 f"{r['utterance_wa']:.3f} | {r['wall_s']:.1f} |")
    out.append('')
  if 'protocol' in results:
    out += ['### 6. Whole protocols, end to end', '']
    out += protocol_item.markdown(results['protocol'])
  if 'faces' in results:
    fc = results['faces']
    out += ['### 6. Face crops (Haar cascade, decoding included)', '',
            f"{fc['frames']} frames of {fc['resolution']} in "
            f"{fc['seconds']:.1f} s: **{fc['frames_per_s']:.1f} frames/s**", '']
  if 'scaling' in results:
    s = results['scaling']
    kind = ('fake CPU devices sharing the cores' if s['fake_cpu_devices']
            else s['device_kind'])
    out += [f'### 5. Device scaling ({kind})', '',
            '| devices | mesh (pathways × data) | pathway-steps/s | × 1 device |',
            '|---|---|---|---|']
    for r in s['rows']:
      out.append(f"| {r['devices']} | {r['mesh']['pathways']} × "
                 f"{r['mesh']['data']} | {r['pathway_steps_per_s']:.1f} | "
                 f"{r['speedup_vs_1_device']:.2f} |")
    out.append('')
  return '\n'.join(out)


def run(sizes: Sizes, items: Sequence[str], features_path: str = '',
        rounds: int = 3, compare_rev: str = '',
        protocol_rounds: int = 2) -> dict[str, Any]:
  """All requested items; item 3 first so peak memory is its own."""
  results: dict[str, Any] = {'machine': machine(),
                             'sizes': dataclasses.asdict(sizes)}
  fs = store.load(features_path) if features_path else None
  results['features'] = features_path or None
  t0 = time.perf_counter()
  for item in ITEMS:
    if item not in items:
      continue
    t = time.perf_counter()
    if item == 'reference':
      results[item] = speedup.bench_reference(sizes, rounds, compare_rev)
    elif item == 'generation':
      results[item] = bench_generation(sizes, fs)
    elif item == 'throughput':
      results[item] = bench_throughput(sizes)
    elif item == 'scaling':
      results[item] = bench_scaling(sizes)
    elif item == 'transfer':
      data = fs if fs is not None else (
          blob_features(sizes, 96) if sizes == TINY else _synthetic())
      results[item] = bench_transfer(sizes, data)
    elif item == 'faces':
      results[item] = bench_faces(16 if sizes == TINY else 120)
    elif item == 'protocol':
      if not features_path:
        raise ValueError('item protocol needs --features (EMO-DB .npz)')
      results[item] = protocol_item.bench_protocol(
          os.path.abspath(features_path), protocol_rounds, compare_rev,
          quick=sizes == TINY)
    results.setdefault('item_seconds', {})[item] = time.perf_counter() - t
    print(f'[benchmark] {item} done in {time.perf_counter() - t:.0f}s',
          flush=True)
  results['total_s'] = time.perf_counter() - t0
  results['peak_rss_mb'] = peak_rss_mb()
  results['machine']['load_average_end'] = list(os.getloadavg())
  return results


def bench_faces(num_frames: int) -> dict[str, Any]:
  """Face-crop throughput on a 640x480 MJPG video built from a real photo
  (skimage's astronaut, moving across the frame), decoding included."""
  import tempfile  # pylint: disable=g-import-not-at-top
  from skimage import data as skdata  # pylint: disable=g-import-not-at-top
  from data_prep import testing, video  # pylint: disable=g-import-not-at-top
  head = skdata.astronaut()[0:300, 100:400]  # head and shoulders
  frames = [testing.place(head, size=200 + 2 * (i % 20),
                          xy=(40 + (4 * i) % 360, 20 + (2 * i) % 200))
            for i in range(num_frames)]
  with tempfile.TemporaryDirectory() as tmp:
    path = testing.write_video(os.path.join(tmp, 'faces.avi'), frames)
    t0 = time.perf_counter()
    crops = video.face_crops(path)
    seconds = time.perf_counter() - t0
  return {'frames': int(crops.shape[0]), 'resolution': '640x480',
          'seconds': seconds, 'frames_per_s': crops.shape[0] / seconds}


def _synthetic() -> store.FeatureSet:
  from data_prep import synthetic  # pylint: disable=g-import-not-at-top
  return synthetic.make_corpus()


def define_flags() -> None:
  """The binary's flags; defined only when run as a program, so that tests
  and other binaries can import this module in one process."""
  flags.DEFINE_string('out', '', 'Write the results as JSON here.')
  flags.DEFINE_bool('quick', False, 'Tiny sizes (tests); numbers mean '
                    'nothing.')
  flags.DEFINE_list('items', [i for i in ITEMS if i not in ON_REQUEST],
                    f'Subset of {ITEMS} (default: all but {ON_REQUEST}).')
  flags.DEFINE_string(
      'features', None, 'EMO-DB FeatureSet .npz for items 3-4 (default: the '
      'newest features/emodb_audio*.npz; "" = none: random/synthetic rows).')
  flags.DEFINE_integer('rounds', 3, 'Alternating rounds of item 0.')
  flags.DEFINE_integer('protocol_rounds', 2, 'Alternating rounds of item 6.')
  flags.DEFINE_string(
      'compare_rev', '', 'Items 0 and 6 also time this git revision of the '
      'project (e.g. the commit before a speed change).')
  flags.DEFINE_integer(
      'fake_devices', 8, 'On CPU, re-run with this many host devices so item '
      '5 can scale (1 = never).')


def _reexec_with_devices(count: int) -> int | None:
  """Exit code of this benchmark re-run with `count` CPU devices, or None
  when no re-run is needed (enough devices, not CPU, or flag already set)."""
  xla_flags = os.environ.get('XLA_FLAGS', '')
  if (count <= 1 or FAKE_DEVICES_FLAG in xla_flags or
      jax.default_backend() != 'cpu' or jax.device_count() >= count):
    return None
  env = dict(os.environ,
             XLA_FLAGS=f'{xla_flags} {FAKE_DEVICES_FLAG}={count}'.strip())
  return subprocess.run([sys.executable, '-m', 'experiments.benchmark',
                         *sys.argv[1:]], env=env, check=False).returncode


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  f = flags.FLAGS
  unknown = set(f.items) - set(ITEMS)
  if unknown:
    raise app.UsageError(f'unknown --items {sorted(unknown)}; valid: {ITEMS}')
  if not f['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  rc = _reexec_with_devices(f.fake_devices)
  if rc is not None:
    sys.exit(rc)
  features = f.features
  if features is None:
    features = '' if f.quick else find_features()
  results = run(TINY if f.quick else PAPER, f.items, features,
                rounds=1 if f.quick else f.rounds, compare_rev=f.compare_rev,
                protocol_rounds=1 if f.quick else f.protocol_rounds)
  print(markdown(results), flush=True)
  if f.out:
    with open(f.out, 'w') as out:
      json.dump(metrics.jsonable(results), out, indent=1)
    print(f'wrote {f.out}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
