"""Not a paper row: PathNet from scratch on EMO-DB's male speakers (the
no-transfer reference for emodb_f2m.py)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.target = 'emodb:sex=m'
  return c
