"""`improved_heldout` given what a tuned linear SVM has (issue 35): layer 1
and a linear path to the task head read each utterance's openSMILE
ComParE_2016 functionals (6,373, standardised per speaker: TRANSDUCTIVE, as
the speaker-normalised anchor it is compared with), the head's L2 penalty
is an SVM's regulariser; held-out fitness, tie-break and final phase as in
improved_heldout. One row per utterance, so a run costs 1/5 (EMO-DB) to
1/9 (RAVDESS) of improved_heldout's.

Chosen with experiments/ablation.py --select_by=speaker (leave-one-speaker-
out folds, 20 % of each fold's TRAINING speakers held out for the choice,
seed 0; EMO-DB folds 0-4, RAVDESS folds 0, 3, 6, 9; docs/results.md,
issue 35). Selection UA:

  variant (on improved_heldout)          EMO-DB   RAVDESS   s per fold
  improved_heldout itself                 0.787    0.615     52 / 112
  + skip (no L2)                          0.757      -       71
  + skip, head_l2 1e-4                    0.779      -       59
  + skip, head_l2 1e-3                    0.788      -       55
  + skip, head_l2 1e-2                    0.785      -       51
  + skip, hinge, head_l2 1e-3             0.772      -       54
  functionals alone                       0.766    0.594     10 / 12
  functionals alone + skip, 1e-3          0.767    0.598     12 / 18
  functionals alone + skip, 1e-2          0.773    0.613     11 / 13  <- this
  functionals alone + skip, hinge, 1e-3   0.767      -       11

No variant beats improved_heldout on the selection speakers by more than
0.001; this one is within 0.014 (EMO-DB) and 0.002 (RAVDESS) of it at a
fifth to a ninth of its compute, and is the best of its family on both
corpora, so it is kept for the four cells (3 seeds each) and the controls
of issue 33, which improved_heldout's cost would not have allowed here.
  model.input_view 'functionals:ComParE_2016'  one row per utterance
  model.head_skip  True   a linear path from the functionals to the head
  optim.head_l2    0.01   (1e-3: 0.767 / 0.598)
  optim.loss       cross_entropy  (hinge: 0.767 on EMO-DB)
"""
from experiments.configs import default
from experiments.configs import improved_heldout

INPUT_VIEW = 'functionals:ComParE_2016'


def apply(c):
  """Turns any PathNet config (a transfer, a learning-curve point) into this
  variant, in place; returns it."""
  improved_heldout.apply(c)
  c.model.input_view = INPUT_VIEW
  c.model.head_skip = True
  c.optim.head_l2 = 0.01
  return c


def get_config():
  return apply(default.get_config())
