"""Not a paper row: the fine-tuning baseline of emodb_f2m.py (CNN pre-trained
on EMO-DB's female speakers, fine-tuned on its male speakers).

  python -m experiments.finetune --config=experiments/configs/emodb_f2m_ft.py \
      --workdir=runs/emodb_f2m_ft
"""
from experiments.configs import finetune


def get_config():
  c = finetune.get_config()
  c.target = 'emodb:sex=m'
  c.source = 'emodb:sex=f'
  return c
