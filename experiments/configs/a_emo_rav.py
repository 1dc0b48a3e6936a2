"""Not a paper row: EMO-DB → RAVDESS speech (issue 12). Compare with
a_rav.py (scratch), a_emo_rav_ft.py (CNN pre-trained on EMO-DB, fine-tuned)
and a_rav_cnn.py (that CNN from scratch), on the same folds.

  python -m experiments.train --config=experiments/configs/a_emo_rav.py \
      --workdir=runs/a_emo_rav
"""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.task = 'transfer'
  c.sources = ('emodb',)
  c.target = 'ravdess'
  return c
