r"""Learning speed from finished runs (issue 33): held-out accuracy against
cumulative target SGD steps, steps to a threshold and speed-up ratios,
paired over the (seed, fold) runs every method shares.

  python -m experiments.learning_speed --fast=transfer --reference=independent \
      --run='transfer|runs/t/seed_0/results.json,runs/t/seed_1/results.json' \
      --run='independent|runs/i/seed_0/results.json,runs/i/seed_1/results.json' \
      --run='fine-tuning|runs/f/seed_0/results.json,...' --out=docs/speed_x.png

Each --run is 'label|results.json[,...]' (experiments.train results of a
config with a held-out fitness). The threshold of a run is --share (0.95) of
the --reference method's final held-out accuracy on the same (seed, fold); a
run that never reaches it counts at its budget. Prints a markdown table: the
steps each method needs and its ratio to --fast's, with a Wilcoxon test of
the paired step counts; --out draws the mean curves.
"""
from __future__ import annotations

from typing import Sequence

from absl import flags

from experiments.lib import cli
from experiments.lib import learning_speed
from experiments.lib import plots
from experiments.lib import tables


def define_flags() -> None:
  flags.DEFINE_multi_string('run', [], "'label|results.json[,...]'")
  flags.DEFINE_string('fast', None, 'The --run label whose speed-up over '
                      'the others is reported (PathNet transfer).')
  flags.DEFINE_string('reference', None, 'The --run label whose final '
                      'held-out accuracy sets the threshold (the '
                      'independent control).')
  flags.DEFINE_float('share', learning_speed.THRESHOLD_SHARE,
                     "Threshold: this share of the reference's final "
                     'held-out accuracy.')
  flags.DEFINE_string('out', None, 'PNG of the mean curves (optional).')
  flags.DEFINE_string('title', '', 'Figure title.')


def main(argv: Sequence[str]) -> None:
  del argv
  f = flags.FLAGS
  if len(f.run) < 2 or not f.fast or not f.reference:
    raise ValueError('give --fast, --reference and at least two --run')
  if not 0 < f.share <= 1:
    raise ValueError(f'--share must be in (0, 1], got {f.share}')
  methods = {}
  for spec in f.run:
    label, results = tables.read_row(spec)
    try:
      methods[label] = learning_speed.runs_by_key(results)
    except KeyError as e:
      raise ValueError(f'--run {spec!r}: not training results (no {e})'
                       ) from e
  if f.fast not in methods:
    raise ValueError(f'--fast {f.fast!r} is not a --run label')
  steps = learning_speed.steps_to_threshold(methods, f.reference, f.share)
  print(learning_speed.markdown(steps, f.fast, f.reference, f.share))
  if f.out:
    plots.plot_learning_curves(
        learning_speed.mean_curves(methods), f.out, f.title,
        ylabel='best held-out accuracy so far',
        xlabel='target SGD steps')


if __name__ == '__main__':
  cli.run(main, define_flags)
