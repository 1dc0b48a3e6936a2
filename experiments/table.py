r"""Markdown rows of several methods on the same folds, each against an anchor.

  python -m experiments.table \
      --anchor=runs/anchor/emodb_ComParE_2016_speaker_kfold_nospeaker_norm.json \
      --row='improved|runs/improved_loso_s0/results.json' \
      --row='improved_speaker|runs/improved_spk_loso_s0/results.json,runs/improved_spk_loso_s1/results.json' \
      --average_seeds

Each --row is 'label|results.json[,results.json...]' (experiments.train or
experiments.baseline results, e.g. one file per seed). Printed per row: the
folds × seeds, utterance WA and UA mean ± std, the mean wall time of a run,
and the UA difference to the anchor with its paired Wilcoxon p-value over
the folds both share (experiments.stats).
"""
from __future__ import annotations

from typing import Sequence

from absl import flags

from experiments.lib import cli
from experiments.lib import tables


def define_flags() -> None:
  flags.DEFINE_multi_string('row', [], "'label|results.json[,...]'")
  flags.DEFINE_string('anchor', None, 'Results JSON file(s) of the anchor, '
                      'comma-separated (e.g. experiments.baseline output, or '
                      'one train results file per seed); rows are tested '
                      'against it.')
  flags.DEFINE_string('anchor_label', 'anchor', 'Its name in the header.')
  flags.DEFINE_bool('average_seeds', False, 'Average each fold over seeds '
                    'first (leave-one-speaker-out folds).')


def main(argv: Sequence[str]) -> None:
  del argv
  f = flags.FLAGS
  anchor = tables.read_row(f'anchor|{f.anchor}')[1] if f.anchor else None
  print(tables.markdown([tables.read_row(r) for r in f.row], f.anchor_label,
                        anchor, f.average_seeds))


if __name__ == '__main__':
  cli.run(main, define_flags)
