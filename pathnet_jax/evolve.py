"""The host-side evolution API: `evolve()`, one run as a batch of one of the
protocol engine (`runs.evolve_runs`), with checkpoints and progress.

The pure generation step is `generation.py`; config and data checks are
`checks.py`."""
from __future__ import annotations

from typing import Callable

import jax
import numpy as np

from pathnet_jax import ga
from pathnet_jax import generation as gen_lib
from pathnet_jax import runs as runs_lib


def evolve(key: jax.Array, config, train_x, train_y, *, frozen=None,
           init_params=None, workdir: str | None = None, fitness_x=None,
           fitness_y=None, num_classes: int | None = None, augment=None,
           progress: Callable[[int, dict], None] | None = None,
           mesh=None) -> gen_lib.EvolveResult:
  """Evolve pathways on (train_x, train_y) with the microbial GA: one run,
  i.e. a batch of one (runs.evolve_runs), so it gives exactly what the
  same run gives inside a protocol's batch.

  Args:
    key: the run's PRNG key (same key -> same result on the same device kind).
    config: ConfigDict with `model`, `evolution`, `optim` sections.
    train_x: [n, ...] float inputs; train_y: int[n] labels.
    frozen: optional bool[L, M] modules never updated; with
      `evolution.frozen_always_active` (the paper) they join every pathway.
    init_params: start from these parameters (transfer) instead of a fresh init.
    workdir: if given, the whole state is checkpointed there every
      `evolution.checkpoint_every` generations and a rerun resumes from it.
    fitness_x, fitness_y: rows to measure fitness on (default: training rows).
    num_classes: head width for a fresh init (default: max label + 1).
    augment: optional `augment(key, x_batch) -> x_batch` applied on device.
    progress: optional callback(generation, summary dict of floats, with
      'pathway_steps_per_s' of the call that ran it).
    mesh: a parallel.make_mesh() mesh to shard over; default: the one
      `config.parallel` asks for (none without that section).
  """
  run = runs_lib.Run(
      key=key, x=np.asarray(train_x), y=np.asarray(train_y),
      fitness_x=None if fitness_x is None else np.asarray(fitness_x),
      fitness_y=None if fitness_y is None else np.asarray(fitness_y),
      frozen=frozen, init_params=init_params, num_classes=num_classes,
      name='')
  report = None
  if progress is not None:
    paths = ga.pathways_per_generation(config)

    def report(first, last, history, seconds):
      rate = paths * gen_lib.steps_for(config, run.x.shape[0]) * (last - first) / max(
          seconds, 1e-9)
      for i in range(last - first):
        summary = {k: v[0, i].item() for k, v in history.items()}
        progress(first + i + 1, {**summary, 'pathway_steps_per_s': rate})
  return runs_lib.evolve_runs(config, [run], workdir=workdir, augment=augment,
                              progress=report, mesh=mesh)[0]
