r"""The fine-tuning baseline the paper compares with (Zhang et al. 2018).

An AlexNet-like CNN on 3-channel log-mel segments, pre-trained on a source
corpus (no ImageNet weights here) and then fine-tuned, every layer, on the
target; without a source it trains from scratch. Every fold of every seed
trains as one batch (experiments/lib/finetune.py, lib/cnn_runs.py).

Usage:
  python -m experiments.finetune --config=experiments/configs/finetune.py \
      --workdir=runs/finetune
  # three seeds, leave-one-speaker-out, in one batch:
  python -m experiments.finetune --config=experiments/configs/finetune.py:emodb \
      --config.protocol=speaker_kfold --config.seeds=0,1,2 \
      --workdir=runs/finetune_emodb_loso

Writes to the workdir (per seed in seed_<s>/ with --config.seeds):
results.json (per-fold and aggregated segment- and utterance-level WA/UA,
per-class recall, confusion, config, timings, the corpus files skipped under
config.on_error='skip'), confusion.png (utterance level, summed over folds),
summary.md and TensorBoard events in tensorboard/.
"""
from __future__ import annotations

from typing import Sequence

from absl import flags
from ml_collections import config_flags

from experiments.lib import cli
from experiments.lib import finetune
from experiments.lib import finetune_report


def define_flags() -> None:
  """Flags are defined when run as a binary, not on import, so tests can
  import this module beside other binaries that also define --config."""
  config_flags.DEFINE_config_file(
      'config', None, 'Path to an ml_collections config file.',
      lock_config=True)
  flags.DEFINE_string('workdir', None, 'Output directory.')
  flags.mark_flags_as_required(['config', 'workdir'])


def main(argv: Sequence[str]) -> None:
  del argv
  # User errors (a bad config too: checked before anything is written)
  # become one `error:` line in cli.run.
  results = finetune.train_and_evaluate(flags.FLAGS.config,
                                        flags.FLAGS.workdir)
  print(finetune_report.seeds_markdown(results) if 'per_seed' in results
        else finetune_report.summary_markdown(results))


if __name__ == '__main__':
  cli.run(main, define_flags)
