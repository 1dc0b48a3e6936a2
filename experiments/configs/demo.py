"""Tiny demo on the built-in synthetic corpus: no downloads, ~1 minute on CPU."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.target = 'synthetic'
  c.n_splits = 3
  c.folds = (0,)
  c.evolution.population_size = 10
  c.evolution.generations = 30
  c.evolution.checkpoint_every = 10
  return c
