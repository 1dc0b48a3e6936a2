"""Paper row A_eNTER→SAV: eNTERFACE audio → SAVEE audio (paper: 0.85; its
Table 3 says 0.71)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.task = 'transfer'
  c.sources = ('enterface',)
  c.target = 'savee'
  return c
