"""Not a paper row: EMO-DB male speakers → female speakers, the nearest real
transfer that runs with EMO-DB alone (compare with emodb_f.py, no transfer)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.task = 'transfer'
  c.sources = ('emodb:sex=m',)
  c.target = 'emodb:sex=f'
  return c
