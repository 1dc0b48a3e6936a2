r"""Runs the paper's table rows on the corpora present and writes a comparison.

  python -m experiments.reproduce --data_root=../shared/data --out=results
  # a quick look (not comparable with the paper):
  python -m experiments.reproduce --rows=a_emo,emodb_f2m --generations=5 \
      --max_folds=1 --out=results_quick

Every row of Nguyen et al. (2023) whose corpora are under --data_root
(emodb/, savee/, enterface/, ravdess/ in their standard layouts) runs under
both protocols (random 5-fold by utterance as in the paper, and speaker folds:
leave-one-speaker-out up to 12 speakers, 12 speaker groups above) into
`out/<row>_<protocol>/`; `out/README.md` puts the paper's figure beside ours.
Rows whose corpora are missing are listed as not run. Rows marked "added" are
not in the paper: the nearest real transfers that run on the corpora we have
(EMO-DB speakers of one sex → the other, RAVDESS ⇄ EMO-DB, RAVDESS + EMO-DB
female → male), with their no-transfer and fine-tuning references.

The cross-corpus comparison of issue 12 (`--rows=cross_corpus` runs its rows):
  python -m experiments.reproduce --rows=cross_corpus --seeds=0,1,2 \
      --out=results_cross [--pathnet=improved] [--shared_classes_only]
  # learning curves: each training fold cut to these shares of utterances
  python -m experiments.reproduce --rows=cross_corpus \
      --train_fractions=0.1,0.25,0.5,1 --out=results_curves
Several seeds run as one batch per row and protocol (PathNet and the CNN:
every (seed, fold) in one program; each seed's results in the run folder's
seed_<s>/): the table pools every (seed, fold) score; a gains table pairs
each transfer row with its references over the same seeds and folds (mean ±
std of the utterance-UA difference, Wilcoxon signed-rank test). `--shared_classes_only`
keeps, in every run, only the classes common to all corpora of the chosen
rows (RAVDESS and EMO-DB: neutral, anger, disgust, fear, happiness, sadness).

`--on_error=skip` leaves unreadable corpus files out of every run (each
run's results.json lists them), up to `--max_skipped_fraction_files` of a
corpus.

A finished run (results.json holding the same config) is reused, and PathNet
runs resume finished folds, so an interrupted reproduce continues. A transfer
row's second protocol starts from the first one's final source checkpoint
(the source task does not depend on the target's folds).
"""
from __future__ import annotations

import os
from typing import Sequence

from absl import app
from absl import flags
from absl import logging

from experiments.lib import cli
from experiments.lib import data
from experiments.lib import reproduce
from experiments.lib import rows


def define_flags() -> None:
  flags.DEFINE_string('data_root', os.path.join('..', 'shared', 'data'),
                      'Folder holding emodb/, savee/, enterface/, ravdess/.')
  flags.DEFINE_string('out', 'results', 'Output folder.')
  flags.DEFINE_list('rows', list(rows.ROW_NAMES), 'Rows to run: '
                    + ','.join(rows.ROW_NAMES) + '; or the groups '
                    + ','.join(rows.GROUPS))
  flags.DEFINE_list('protocols', list(reproduce.PROTOCOLS),
                    'Evaluation protocols.')
  flags.DEFINE_integer('generations', 0, 'PathNet generations (0: config).')
  flags.DEFINE_integer('max_folds', 0, 'Run only the first k folds (0: all).')
  flags.DEFINE_integer('epochs', 0, 'CNN pre-training and fine-tuning epochs '
                       '(0: config).')
  flags.DEFINE_bool('synthetic', False, 'Use the synthetic corpus for every '
                    'corpus (a smoke test of the whole table).')
  flags.DEFINE_string('cache_dir', 'features', 'Feature cache folder.')
  flags.DEFINE_list('seeds', ['0'], 'Run seeds (folds and initialisation), '
                    'each row and protocol trained as one batch of them.')
  flags.DEFINE_list('train_fractions', ['1'], 'Shares of each training '
                    "fold's utterances (learning curves), e.g. 0.1,0.25,0.5,1.")
  flags.DEFINE_enum('pathnet', 'paper', ['paper', 'improved'],
                    'PathNet rows: the paper config or configs/improved.py.')
  flags.DEFINE_bool('shared_classes_only', False, 'Keep only the classes '
                    'common to every corpus of the chosen rows.')
  flags.DEFINE_enum('on_error', data.DEFAULT_ON_ERROR, list(data.ON_ERROR),
                    'An unreadable corpus file: raise (that run stops, '
                    'naming it) or skip (left out, listed in its results).')
  flags.DEFINE_float('max_skipped_fraction_files',
                     data.DEFAULT_MAX_SKIPPED_FRACTION,
                     'With --on_error=skip: a run stops when more than this '
                     "share of a corpus's files is skipped.", lower_bound=0,
                     upper_bound=1)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  try:
    reproduce.reproduce(
        f.out, data_root=f.data_root, rows=f.rows, protocols=f.protocols,
        generations=f.generations, max_folds=f.max_folds, epochs=f.epochs,
        synthetic=f.synthetic, cache_dir=f.cache_dir,
        seeds=[int(v) for v in f.seeds],
        train_fractions=[float(v) for v in f.train_fractions],
        pathnet=f.pathnet, shared_classes_only=f.shared_classes_only,
        on_error=f.on_error,
        max_skipped_fraction_files=f.max_skipped_fraction_files)
  except ValueError as e:  # cli.run prints it; settings named as flags
    raise ValueError(data.as_flags(str(e))) from e
  print(f"wrote {os.path.join(f.out, 'README.md')}")


if __name__ == '__main__':
  cli.run(main, define_flags)
