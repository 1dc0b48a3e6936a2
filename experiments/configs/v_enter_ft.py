"""Paper row V_eNTER fine-tuning (paper: 0.88): CNN pre-trained on SAVEE face
crops, fine-tuned on eNTERFACE face crops.

  python -m experiments.finetune --config=experiments/configs/v_enter_ft.py \
      --workdir=runs/v_enter_ft
"""
from experiments.configs import finetune


def get_config():
  c = finetune.get_config()
  c.modality = 'video'
  c.target = 'enterface'
  c.source = 'savee'
  return c
