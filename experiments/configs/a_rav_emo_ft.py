"""Not a paper row: the paper's baseline shape for RAVDESS → EMO-DB: the CNN
pre-trained on RAVDESS speech, every layer then fine-tuned on EMO-DB.

  python -m experiments.finetune --config=experiments/configs/a_rav_emo_ft.py \
      --workdir=runs/a_rav_emo_ft
"""
from experiments.configs import finetune


def get_config():
  c = finetune.get_config()
  c.target = 'emodb'
  c.source = 'ravdess'
  return c
