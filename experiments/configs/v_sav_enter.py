"""Paper row V_SAV→eNTER: SAVEE faces → eNTERFACE faces (paper: 0.94)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.modality = 'video'
  c.task = 'transfer'
  c.sources = ('savee',)
  c.target = 'enterface'
  return c
