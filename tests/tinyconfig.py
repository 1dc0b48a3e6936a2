"""Tiny configs and data shared by the core tests."""
import ml_collections
import numpy as np

from experiments.configs import default

# Subprocess timeout in tests: a guard against a hung child only, never a
# speed check (a busy CI machine runs the suite 3x slower than an idle one).
HANG_GUARD_S = 1200


def tiny_config(**evolution) -> ml_collections.ConfigDict:
  c = default.get_config()
  c.model.num_layers = 2
  c.model.num_modules = 6
  c.model.module_units = 8
  c.model.max_active = 2
  c.evolution.population_size = 6
  c.evolution.generations = 6
  c.evolution.checkpoint_every = 2
  c.optim.batch_size = 16
  c.optim.eval_batch_size = 32
  for k, v in evolution.items():
    c.evolution[k] = v
  return c


def blobs(n=96, num_classes=3, shape=(4, 4, 3), seed=0, spread=3.0):
  """Separable Gaussian blobs: x float32[n, *shape], y int32[n]."""
  rng = np.random.default_rng(seed)
  centers = rng.normal(size=(num_classes, int(np.prod(shape)))) * spread
  y = np.arange(n) % num_classes
  x = centers[y] + rng.normal(size=(n, centers.shape[1]))
  return x.reshape((n,) + shape).astype(np.float32), y.astype(np.int32)


def synthetic_run_config(utterances_per_class=2, generations=2,
                         checkpoint_every=0, **overrides
                         ) -> ml_collections.ConfigDict:
  """A whole experiments.train run in seconds: the synthetic corpus of 3
  speakers x 3 classes x `utterances_per_class`, 4 modules of 8 units,
  population 4, fold 0 of 2; `overrides` are top-level config fields."""
  c = default.get_config()
  c.target = 'synthetic'
  c.synthetic = dict(num_speakers=3, num_classes=3,
                     utterances_per_class=utterances_per_class)
  c.model.num_modules = 4
  c.model.module_units = 8
  c.evolution.generations = generations
  c.evolution.population_size = 4
  c.evolution.checkpoint_every = checkpoint_every
  c.optim.batch_size = 16
  c.n_splits = 2
  c.folds = (0,)
  c.update(overrides)
  return c
