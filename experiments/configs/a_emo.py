"""Paper row A_EMO: PathNet from scratch on EMO-DB audio (paper: 0.89)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.target = 'emodb'
  return c
