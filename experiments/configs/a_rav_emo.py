"""Not a paper row: RAVDESS speech → EMO-DB, the nearest audio transfer to
A_eNTER+SAV→EMO when eNTERFACE and SAVEE are absent but RAVDESS is present."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.task = 'transfer'
  c.sources = ('ravdess',)
  c.target = 'emodb'
  return c
