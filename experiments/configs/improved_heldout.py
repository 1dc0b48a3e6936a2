"""`improved_compare` with fitness measured on held-out training rows
(issue 26), not on the rows the pathways train on.

With utterance functionals in layer 1, training accuracy (the paper's
fitness) reaches 1.000 by about generation 20 of 60; from then on every
tournament is a tie broken at random, so the GA selects nothing and the
pathway frozen for transfer is whichever won last. Here each training fold
holds out `validation_fraction` of its speakers under protocol=
'speaker_kfold' (of its utterances otherwise; fixed per run, seeded by seed
+ fold) and fitness is accuracy on them, ties broken by their loss; the best
pathway then trains on every training row for a final phase.

NOT YET CHOSEN: every value below is a guess, to be chosen with
experiments/ablation.py --select_by=speaker (variants heldout,
heldout_loss, heldout_final, patience20) before results use this config:
  validation_fraction 0.15  EMO-DB leave-one-speaker-out: 1 of 9 training
                            speakers; RAVDESS actors 1-12: 2 of 11
  tiebreak_loss True        or fitness_metric='loss' (loss alone)
  heldout_training 'final'  with final_epochs 5 = epochs_per_pathway, one
                            pathway's budget of a generation, on all rows
  patience 20               a third of the 60 generations
"""
from experiments.configs import default
from experiments.configs import improved_compare


def apply(c):
  """Turns any PathNet config (a transfer, a learning-curve point) into this
  variant, in place; returns it."""
  improved_compare.apply(c)
  c.fitness = 'heldout'
  c.validation_fraction = 0.15
  c.evolution.tiebreak_loss = True
  c.evolution.heldout_training = 'final'
  c.evolution.final_epochs = 5
  c.evolution.patience = 20
  return c


def get_config():
  return apply(default.get_config())
