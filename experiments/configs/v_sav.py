"""Paper row V_SAV: PathNet from scratch on SAVEE face crops (paper: 0.89)."""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.modality = 'video'
  c.target = 'savee'
  return c
