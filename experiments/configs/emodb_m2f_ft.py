"""Not a paper row: the fine-tuning baseline of emodb_m2f.py (CNN pre-trained
on EMO-DB's male speakers, fine-tuned on its female speakers).

  python -m experiments.finetune --config=experiments/configs/emodb_m2f_ft.py \
      --workdir=runs/emodb_m2f_ft
"""
from experiments.configs import finetune


def get_config():
  c = finetune.get_config()
  c.target = 'emodb:sex=f'
  c.source = 'emodb:sex=m'
  return c
