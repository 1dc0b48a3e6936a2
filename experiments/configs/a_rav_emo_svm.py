"""RAVDESS -> EMO-DB transfer with `improved_svm` (issue 35; the variant of
issue 33's level-field tables). The source evolves with held-out fitness
too, so the pathway frozen for transfer is the one with the best held-out
fitness on RAVDESS; the task head (its skip path included) is new on
EMO-DB. Its scratch twin is improved_svm.py on EMO-DB, same folds and seed;
its controls: --config.method=independent | finetune (and fixed_pathway on
the scratch twin).

  python -m experiments.train --config=experiments/configs/a_rav_emo_svm.py \\
      --config.seeds=0,1,2 [--config.train_fraction=0.1] --workdir=runs/x
"""
from experiments.configs import a_rav_emo
from experiments.configs import improved_svm


def get_config():
  return improved_svm.apply(a_rav_emo.get_config())
