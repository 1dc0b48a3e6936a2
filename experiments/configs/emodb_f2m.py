"""Not a paper row: EMO-DB female speakers → male speakers, the nearest real
transfer that runs with EMO-DB alone (compare with emodb_m.py, no transfer)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.task = 'transfer'
  c.sources = ('emodb:sex=f',)
  c.target = 'emodb:sex=m'
  return c
