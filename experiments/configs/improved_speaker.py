"""`improved` plus per-speaker input normalisation (issue 11), chosen for
speaker-independent use on selection splits only.

Each speaker's segments are standardised per mel band and channel with that
speaker's own statistics (labels unused). This is TRANSDUCTIVE for a test
speaker: its own unlabelled test recordings give its statistics, as is common
practice in speaker-independent emotion recognition; results that use this
config must say so.

Chosen with experiments/ablation.py on the selection splits (20% of the
training speakers' utterances) of leave-one-speaker-out folds 0 and 1 of
EMO-DB, never on a test fold: selection UA 0.785 against 0.683 for
`improved` (see the PathNet rows in docs/results.md).

  python -m experiments.ablation --config=experiments/configs/improved.py \
      --config.protocol=speaker_kfold --config.n_splits=0 \
      --variants=paper,speaker_norm --folds=0,1 --out=runs/ablation_speaker.json
"""
from experiments.configs import improved


def get_config():
  c = improved.get_config()
  c.normalize = 'speaker'
  return c
