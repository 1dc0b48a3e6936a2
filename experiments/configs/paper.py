"""Exactly the paper's method (same as default.py), kept as its own name so
results tables can cite it; never change its values."""
from experiments.configs import default


def get_config():
  return default.get_config()
