"""RAVDESS speech -> EMO-DB (a_rav_emo.py) with issue 26's chosen variant
(improved_heldout.py: fitness on held-out training rows, then a final phase
on every row). The source evolves with held-out fitness too, so the pathway
frozen for transfer is the one with the best held-out fitness on RAVDESS.
Its scratch twin is improved_heldout.py on EMO-DB, on the same folds for
the same seed.

  python -m experiments.train --config=experiments/configs/a_rav_emo_heldout.py \\
      --config.seeds=0,1,2 [--config.train_fraction=0.1] --workdir=runs/x
"""
from experiments.configs import a_rav_emo
from experiments.configs import improved_heldout


def get_config():
  return improved_heldout.apply(a_rav_emo.get_config())
