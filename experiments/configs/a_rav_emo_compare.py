"""RAVDESS speech -> EMO-DB (a_rav_emo.py) with the variant chosen in issue
20 (improved_compare.py: time-pooled log-mel + ComParE functionals, speaker
normalisation, transductive). Its scratch twin is improved_compare.py on
EMO-DB, on the same folds for the same seed.

  python -m experiments.train --config=experiments/configs/a_rav_emo_compare.py \\
      --config.seeds=0,1,2 [--config.train_fraction=0.25] --workdir=runs/x
"""
from experiments.configs import a_rav_emo
from experiments.configs import improved_compare


def get_config():
  return improved_compare.apply(a_rav_emo.get_config())
