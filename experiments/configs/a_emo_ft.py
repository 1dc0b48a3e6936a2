"""Paper row A_EMO fine-tuning (paper: 0.83): the CNN pre-trained on eNTERFACE
and SAVEE audio (in place of the ImageNet weights we cannot download), every
layer then fine-tuned on EMO-DB.

  python -m experiments.finetune --config=experiments/configs/a_emo_ft.py \
      --workdir=runs/a_emo_ft
"""
from experiments.configs import finetune


def get_config():
  c = finetune.get_config()
  c.target = 'emodb'
  c.source = 'enterface+savee'
  return c
