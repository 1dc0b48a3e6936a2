r"""Parallel tournaments sharded over every device JAX sees.

The paper's model and GA, but each generation runs `tournaments_per_generation`
disjoint tournaments (up to population_size / 2) and trains all their
pathways in one compiled call ('parallel' mode: shared weights, summed
gradients), split over a ('pathways', 'data') mesh of all devices. The
generation count keeps the paper's budget of pathway trainings:
200 generations x 2 pathways = 20 generations x 20 pathways.

  python -m experiments.train --config=experiments/configs/parallel.py \
      --config.target=emodb --workdir=runs/a_emo_parallel

Runs unchanged on one CPU (a 1x1 mesh), fake CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=8), a GPU or a TPU slice;
several hosts: see the README (jax.distributed flags of experiments.train).
"""
import ml_collections

from experiments.configs import default

PAPER_PATHWAY_TRAININGS = 200 * 2


def get_config(tournaments: str = '10') -> ml_collections.ConfigDict:
  """`--config=experiments/configs/parallel.py:5` runs 5 tournaments."""
  c = default.get_config()
  t = int(tournaments)
  c.evolution.train_mode = 'parallel'
  c.evolution.tournaments_per_generation = t
  c.evolution.generations = max(1, PAPER_PATHWAY_TRAININGS // (2 * t))
  c.evolution.checkpoint_every = max(1, c.evolution.generations // 10)
  c.parallel = ml_collections.ConfigDict()
  c.parallel.mesh = 'auto'  # 'none': no sharding
  c.parallel.num_devices = 0  # > 0: only the first that many devices
  return c
