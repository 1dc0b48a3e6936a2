"""Paper row V_eNTER→SAV: eNTERFACE faces → SAVEE faces (paper: 0.94)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.modality = 'video'
  c.task = 'transfer'
  c.sources = ('enterface',)
  c.target = 'savee'
  return c
