"""Not a paper row: the CNN trained from scratch on EMO-DB (no pre-training),
the nearest to A_EMO fine-tuning that runs with EMO-DB alone.

  python -m experiments.finetune --config=experiments/configs/a_emo_cnn.py \
      --workdir=runs/a_emo_cnn
"""
from experiments.configs import finetune


def get_config():
  c = finetune.get_config()
  c.target = 'emodb'
  return c
