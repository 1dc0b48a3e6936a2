r"""Ablations of the generalisation options, chosen on validation data only.

For each variant (a set of config overrides on top of --config) and each
chosen fold, the fold's TRAINING utterances are split into a selection set
(--select_fraction, utterance-grouped, stratified) and a pool the variant
trains on; the variant is scored on the selection set, never on the test
fold. The test fold's score is recorded beside it for information only
(experiments/lib/ablation.py).

  python -m experiments.ablation --config=experiments/configs/paper.py \
      --variants=paper,val_fitness,time_pooled --folds=0 \
      --config.evolution.generations=100 --out=runs/ablation.json
"""
from __future__ import annotations

import os
from typing import Sequence

from absl import flags
from ml_collections import config_flags

from experiments.lib import ablation
from experiments.lib import cli
from experiments.lib import validate


def define_flags(flag_values: flags.FlagValues = flags.FLAGS,
                 argv: Sequence[str] | None = None) -> None:
  config_flags.DEFINE_config_file(
      'config', os.path.join(os.path.dirname(__file__), 'configs', 'paper.py'),
      'Base configuration.', flag_values=flag_values, sys_argv=argv)
  flags.DEFINE_list('variants', ','.join(ablation.VARIANTS), 'Variants.',
                    flag_values=flag_values)
  flags.DEFINE_list('folds', ['0'], 'Fold indices to use.',
                    flag_values=flag_values)
  flags.DEFINE_float('select_fraction', 0.2,
                     'Share of training utterances held out to choose.',
                     flag_values=flag_values)
  flags.DEFINE_enum('select_by', 'utterance', list(validate.SELECT_BY),
                    "Hold out training utterances, or whole training "
                    "speakers (their score measures speaker generalisation).",
                    flag_values=flag_values)
  flags.DEFINE_string('out', 'runs/ablation.json', 'JSON output.',
                      flag_values=flag_values)


def main(argv: Sequence[str],
         flag_values: flags.FlagValues = flags.FLAGS) -> None:
  del argv
  f = flag_values
  folds = [int(i) for i in f.folds]
  validate.check_ablation(ablation.variant_configs(f.config, f.variants),
                          f.select_fraction, f.select_by)
  results = ablation.run_to_file(f.out, f.config, f.variants, folds,
                                 f.select_fraction, f.select_by)
  print(ablation.markdown(results))


if __name__ == '__main__':
  cli.run(main, define_flags)
