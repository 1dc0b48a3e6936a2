"""Paper row V_eNTER: PathNet from scratch on eNTERFACE face crops (paper: 0.88)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.modality = 'video'
  c.target = 'enterface'
  return c
