"""Not a paper row: RAVDESS speech → EMO-DB male speakers, the single-source
reference of a_rav_emof_emom.py (the other one is emodb_f2m.py)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.task = 'transfer'
  c.sources = ('ravdess',)
  c.target = 'emodb:sex=m'
  return c
