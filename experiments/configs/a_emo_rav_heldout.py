"""EMO-DB -> RAVDESS speech (a_emo_rav.py) with issue 26's chosen variant
(improved_heldout.py), the other direction of a_rav_emo_heldout.py: the
pathway frozen for transfer is the one with the best held-out fitness on
EMO-DB. Its scratch twin is improved_heldout.py on RAVDESS, on the same
folds for the same seed.

  python -m experiments.train --config=experiments/configs/a_emo_rav_heldout.py \\
      --config.seeds=0,1,2 [--config.train_fraction=0.1] --workdir=runs/x
"""
from experiments.configs import a_emo_rav
from experiments.configs import improved_heldout


def get_config():
  return improved_heldout.apply(a_emo_rav.get_config())
