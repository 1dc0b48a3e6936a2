"""Not a paper row: the CNN trained from scratch on RAVDESS speech (no
pre-training), the reference for a_emo_rav_ft.py.

  python -m experiments.finetune --config=experiments/configs/a_rav_cnn.py \
      --workdir=runs/a_rav_cnn
"""
from experiments.configs import finetune


def get_config():
  c = finetune.get_config()
  c.target = 'ravdess'
  return c
