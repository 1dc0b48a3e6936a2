"""Not a paper row: RAVDESS speech → EMO-DB (issue 12), the nearest audio
transfer to A_eNTER+SAV→EMO when eNTERFACE and SAVEE are absent. Compare
with a_emo.py (scratch), a_rav_emo_ft.py (CNN pre-trained on RAVDESS,
fine-tuned) and a_emo_cnn.py (that CNN from scratch), on the same folds.

  python -m experiments.train --config=experiments/configs/a_rav_emo.py \
      --workdir=runs/a_rav_emo [--config.shared_classes_only=True]
"""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.task = 'transfer'
  c.sources = ('ravdess',)
  c.target = 'emodb'
  return c
