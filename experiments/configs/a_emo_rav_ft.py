"""Not a paper row: the CNN pre-trained on EMO-DB, every layer then
fine-tuned on RAVDESS speech (the baseline of a_emo_rav.py).

  python -m experiments.finetune --config=experiments/configs/a_emo_rav_ft.py \
      --workdir=runs/a_emo_rav_ft
"""
from experiments.configs import finetune


def get_config():
  c = finetune.get_config()
  c.target = 'ravdess'
  c.source = 'emodb'
  return c
