"""What the benchmark items share: the sizes they run at (PAPER, or TINY for
tests), the item context, configs, stand-in data, timing and the machine.
"""
from __future__ import annotations

import dataclasses
import glob
import math
import os
import platform
import resource
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

import jax
import ml_collections
import numpy as np

from data_prep import store
from experiments.configs import default
from experiments.lib import normalize
from experiments.lib import splits

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
  # cost_growth: utterances (x 5 segments) at population 20 / 20 modules /
  # 1 run; then population, modules and runs (folds x seeds) at the
  # second utterance count; extraction file counts.
  cost_utterances: tuple[int, ...] = (200, 2000, 20000, 100000)
  cost_populations: tuple[int, ...] = (20, 64, 200)
  cost_modules: tuple[int, ...] = (20, 50, 100)
  cost_runs: tuple[int, ...] = (1, 3, 10)
  cost_files: tuple[int, ...] = (1000, 5000, 20000)


PAPER = Sizes()
TINY = Sizes(example_shape=(8, 8, 3), num_layers=2, num_modules=6,
             module_units=8, max_active=2, batch_size=16, num_classes=3,
             population=6, rows=128, pathway_counts=(4,), dense_counts=(4,),
             work=4, reps=1, fallback_train_rows=96, n_folds=3,
             fitness_tournaments=(1, 3), fitness_budget_s=0.5, transfer_generations=2, cnn_epochs=1,
             scaling_pathways=4, finetune_preset='tiny', gemm_size=64,
             cost_utterances=(20, 40), cost_populations=(4,),
             cost_modules=(4,), cost_runs=(1,), cost_files=(4, 8))


@dataclasses.dataclass(frozen=True)
class Context:
  """What an item's `run` reads: sizes; fs, the FeatureSet of --features
  (None without); features, its path ('' without); rounds, protocol_rounds:
  alternating rounds of the timing races; compare_rev: an earlier git
  revision to time against ('' = none)."""
  sizes: Sizes
  fs: store.FeatureSet | None = None
  features: str = ''
  rounds: int = 3
  protocol_rounds: int = 2
  compare_rev: str = ''
  out_dir: str = '.'  # where items write figures (beside --out)

  @property
  def quick(self) -> bool:
    return self.sizes == TINY


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


def find_features(pattern: str = os.path.join('features', 'emodb_audio*')
                  ) -> str:
  """The newest cached EMO-DB FeatureSet (.fs store or .npz) under the
  working directory, or ''."""
  found = sorted((p for p in glob.glob(pattern)
                  if p.endswith(('.fs', '.npz'))), key=os.path.getmtime)
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


def synthetic_corpus() -> store.FeatureSet:
  from data_prep import synthetic  # pylint: disable=g-import-not-at-top
  return synthetic.make_corpus()


def reexec_with_devices(count: int, argv: Sequence[str]) -> int | None:
  """Exit code of this benchmark re-run with `count` CPU devices, or None
  when no re-run is needed (enough devices, not CPU, or flag already set)."""
  xla_flags = os.environ.get('XLA_FLAGS', '')
  if (count <= 1 or FAKE_DEVICES_FLAG in xla_flags or
      jax.default_backend() != 'cpu' or jax.device_count() >= count):
    return None
  env = dict(os.environ,
             XLA_FLAGS=f'{xla_flags} {FAKE_DEVICES_FLAG}={count}'.strip())
  return subprocess.run([sys.executable, '-m', 'experiments.benchmark',
                         *argv[1:]], env=env, check=False).returncode
