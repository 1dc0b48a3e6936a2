"""Paper row V_SAV fine-tuning (paper: 0.85): CNN pre-trained on eNTERFACE face
crops, fine-tuned on SAVEE face crops.

  python -m experiments.finetune --config=experiments/configs/v_sav_ft.py \
      --workdir=runs/v_sav_ft
"""
from experiments.configs import finetune


def get_config():
  c = finetune.get_config()
  c.modality = 'video'
  c.target = 'savee'
  c.source = 'enterface'
  return c
