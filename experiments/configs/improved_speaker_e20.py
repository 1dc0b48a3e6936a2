"""`improved_speaker` with 20 training epochs per pathway per generation
(instead of 5), chosen on selection splits only (issue 11).

`improved_speaker`'s best pathways end at training fitness 0.75-0.82 on
RAVDESS: it underfits. experiments/ablation.py on the selection splits
(20% of the training speakers' utterances, never a test fold) of
leave-one-speaker-out folds 0 and 1, mean selection UA:

  variant              EMO-DB   RAVDESS
  improved_speaker     0.690    0.605
  + epochs10           0.774    0.657
  + epochs20           0.818    0.656
  + generations120       –      0.555

(RAVDESS random 5-fold, folds 0-1: 0.620 → 0.700 with epochs10.) 20 epochs
has the best mean; a run costs about 3× `improved_speaker`'s. TRANSDUCTIVE
like `improved_speaker` (each speaker normalised by its own recordings).

  python -m experiments.ablation --config=experiments/configs/improved_speaker.py \
      --config.protocol=speaker_kfold --config.n_splits=0 \
      --variants=paper,epochs10,epochs20 --folds=0,1 --out=runs/ablation_epochs.json
"""
from experiments.configs import improved_speaker


def get_config():
  c = improved_speaker.get_config()
  c.evolution.epochs_per_pathway = 20
  return c
