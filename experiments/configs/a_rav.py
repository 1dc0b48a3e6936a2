"""Not a paper row: PathNet from scratch on RAVDESS speech (the no-transfer
reference for a_emo_rav.py)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.target = 'ravdess'
  return c
