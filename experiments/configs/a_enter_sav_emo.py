"""Paper row A_eNTER+SAV→EMO: eNTERFACE and SAVEE audio pooled into one source
task, then EMO-DB (paper: 0.97)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.task = 'multi_source'
  c.sources = ('enterface', 'savee')
  c.target = 'emodb'
  return c
