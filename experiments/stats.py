r"""Fold statistics: mean ± std over folds × seeds, paired tests over the same folds.

Two methods evaluated on the same folds (same protocol, seed and rows; see
experiments/lib/splits.py) give paired scores; the Wilcoxon signed-rank test
(scipy.stats.wilcoxon) on their differences says whether one is better.
With few folds that test cannot be significant at all: 5 pairs never give a
two-sided p below 0.0625, which is why headline rows use folds × seeds.

  python -m experiments.stats --a=runs/improved_s0/results.json,runs/improved_s1/results.json \
      --b=runs/anchor_compare.json --metric=ua

reads results of experiments.train (one seed per file) or experiments.baseline
(one or several seeds per file), pairs their folds by (seed, fold index) and
prints both means and the test. Leave-one-speaker-out folds are the same for
every seed: with --average_seeds each fold's scores are first averaged over
seeds, so one fold counts once in the test (not once per seed).
"""
from __future__ import annotations

from typing import Sequence

from absl import flags

from experiments.lib import cli
from experiments.lib import stats


def define_flags() -> None:
  flags.DEFINE_string('a', None, 'Comma-separated results JSON files (one '
                      'method; e.g. one file per seed).', required=True)
  flags.DEFINE_string('b', None, 'Results JSON files of the other method.',
                      required=True)
  flags.DEFINE_enum('metric', 'ua', ['ua', 'wa'], 'Score to compare.')
  levels = ['utterance', 'segment', 'single_best_utterance']
  flags.DEFINE_enum('level', 'utterance', levels,
                    'Level of experiments.train results (baseline results '
                    'are utterance level); single_best_utterance: the best '
                    'pathway alone in a run with config.ensemble_size > 1.')
  flags.DEFINE_enum('b_level', None, levels, 'Level of the --b files when '
                    'it differs from --level (e.g. an ensemble run against '
                    'its own best pathway: --a=F --b=F '
                    '--b_level=single_best_utterance).')
  flags.DEFINE_bool('average_seeds', False, 'Average each fold over seeds '
                    'before testing (folds that do not depend on the seed, '
                    'e.g. leave-one-speaker-out).')


def main(argv: Sequence[str]) -> None:
  del argv
  f = flags.FLAGS
  a = stats.merged_fold_scores(stats.read_results(f.a), f.metric, f.level)
  b = stats.merged_fold_scores(stats.read_results(f.b), f.metric,
                               f.b_level or f.level)
  c = stats.compare(a, b, average_seeds=f.average_seeds)
  print(stats.format_comparison(c, f.metric))


if __name__ == '__main__':
  define_flags()
  cli.run(main)
