"""Paper row A_SAV fine-tuning (paper: 0.69): CNN pre-trained on eNTERFACE
audio, fine-tuned on SAVEE audio.

  python -m experiments.finetune --config=experiments/configs/a_sav_ft.py \
      --workdir=runs/a_sav_ft
"""
from experiments.configs import finetune


def get_config():
  c = finetune.get_config()
  c.target = 'savee'
  c.source = 'enterface'
  return c
