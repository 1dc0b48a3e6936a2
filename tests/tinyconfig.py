"""Tiny configs and data shared by the core tests."""
import ml_collections
import numpy as np

from experiments.configs import default


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
