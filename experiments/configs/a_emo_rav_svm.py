"""EMO-DB -> RAVDESS transfer with `improved_svm` (issue 35), the other
direction of a_rav_emo_svm.py. Its scratch twin is improved_svm.py on
RAVDESS (--config.target=ravdess), same folds and seed.

  python -m experiments.train --config=experiments/configs/a_emo_rav_svm.py \\
      --config.seeds=0,1,2 [--config.train_fraction=0.1] --workdir=runs/x
"""
from experiments.configs import a_emo_rav
from experiments.configs import improved_svm


def get_config():
  return improved_svm.apply(a_emo_rav.get_config())
