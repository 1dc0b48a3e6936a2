"""Not a paper row: PathNet from scratch on EMO-DB's female speakers (the
no-transfer reference for emodb_m2f.py)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.target = 'emodb:sex=f'
  return c
