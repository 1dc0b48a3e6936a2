"""Progress of a batch of evolving runs: a line per device call (where the
runs stand, their speed, time left), every generation in the absl log and,
given writers, in TensorBoard."""
from __future__ import annotations

import time
from typing import Any, Sequence

from absl import logging

from experiments.lib import tensorboard
from pathnet_jax import ga
from pathnet_jax import generation as gen_lib


def reporter(phase: str, config, runs: Sequence[Any],
             events: Sequence[tuple[Any, str]] = ()):
  """runs_lib.evolve_runs' `progress` for `runs` of `phase` ('source',
  'target'); `events`: per run, its TensorBoard writer and tag prefix."""
  total = int(config.evolution.generations)
  paths = ga.pathways_per_generation(config)
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
            **{f'{prefix}/evolution/{k}': v[r, i]
               for k, v in history.items()},
            f'{prefix}/evolution/pathway_steps_per_s': rate}, flush=False)
      tb.flush()
  return report
