r"""Evolve PathNet on a corpus (scratch), or transfer from source corpora.

  python -m experiments.train                       # demo on synthetic data
  python -m experiments.train --config=experiments/configs/a_emo.py \
      --workdir=runs/a_emo [--config.evolution.generations=50]

The work is `experiments.lib.pathnet_protocol.train_and_evaluate(config,
workdir)` (task kinds: scratch, transfer, multi_source; see there). Writes to
workdir: results.json, summary.md, confusion.png, fitness.png, per-fold
checkpoints (a rerun resumes) and model/ (for experiments.predict).

Devices: a config with a `parallel` section (experiments/configs/parallel.py)
shards each generation over every device JAX sees. Several hosts run the
same command; JAX joins them before anything else runs:
  TPU pod slice   gcloud compute tpus tpu-vm ssh NAME --worker=all \
                    --command='python -m experiments.train --distributed ...'
                  (--distributed: JAX finds the slice's hosts itself)
  GPU hosts       on each host i of n:  python -m experiments.train \
                    --coordinator_address=HOST0:1234 --num_processes=n \
                    --process_id=i ...   (or JAX_COORDINATOR_ADDRESS,
                    JAX_NUM_PROCESSES, JAX_PROCESS_ID in the environment;
                    SLURM / Open MPI launches: --distributed)
"""
from __future__ import annotations

import os
from typing import Sequence

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from experiments.lib import cli
from experiments.lib import pathnet_protocol
from pathnet_jax import parallel

DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), 'configs', 'demo.py')


def define_flags(flag_values: flags.FlagValues = flags.FLAGS,
                 argv: Sequence[str] | None = None) -> None:
  config_flags.DEFINE_config_file(
      'config', DEFAULT_CONFIG,
      'Training configuration (default: the synthetic demo).',
      flag_values=flag_values, lock_config=True, sys_argv=argv)
  flags.DEFINE_string('workdir', os.path.join('runs', 'demo'),
                      'Output directory (resumes if it holds a run).',
                      flag_values=flag_values)
  flags.DEFINE_string('coordinator_address', None,
                      'Multi-process runs: host:port of process 0.',
                      flag_values=flag_values)
  flags.DEFINE_integer('num_processes', None, 'Multi-process runs: count.',
                       flag_values=flag_values)
  flags.DEFINE_integer('process_id', None, 'Multi-process runs: this one.',
                       flag_values=flag_values)
  flags.DEFINE_bool('distributed', False, 'Let jax.distributed detect the '
                    'cluster (TPU pod slices, SLURM, Open MPI).',
                    flag_values=flag_values)
  flags.DEFINE_bool('compilation_cache', True, "JAX's persistent compilation "
                    'cache in <config.cache_dir>/xla: a rerun, or another '
                    'config with the same shapes, does not compile again.',
                    flag_values=flag_values)


def main(argv: Sequence[str],
         flag_values: flags.FlagValues = flags.FLAGS) -> None:
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  f = flag_values
  parallel.maybe_initialize_distributed(
      f.coordinator_address, f.num_processes, f.process_id,
      auto=f.distributed)
  print(f'JAX devices: {jax.devices()}', flush=True)
  if f.compilation_cache:
    cli.use_compilation_cache(f.config.cache_dir)
  results = pathnet_protocol.train_and_evaluate(f.config, f.workdir)
  print(pathnet_protocol.summary_line(results, f.workdir), flush=True)


if __name__ == '__main__':
  cli.run(main, define_flags)
