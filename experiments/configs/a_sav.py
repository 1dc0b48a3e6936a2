"""Paper row A_SAV: PathNet from scratch on SAVEE audio (paper: 0.81)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.target = 'savee'
  return c
