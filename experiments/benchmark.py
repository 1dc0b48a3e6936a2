r"""Throughput, device scaling, protocols and PathNet vs fine-tuning, measured
here.

  python -m experiments.benchmark [--out bench.json] [--quick]
      [--items=reference --compare_rev=REV --rounds=3]
  python -m experiments.benchmark --items=cnn_protocol [--features=X.npz]

Prints markdown tables and writes every number to JSON. Each figure is a time
or a ratio of times measured in this one process (on CPU the benchmark
re-runs itself once with `--fake_devices` host devices so device scaling can
be measured; single-device figures use device 0 of that process). The items
(experiments/benchmarks/registry.py lists them, a module each): reference,
generation, throughput, scaling, transfer, faces, and on request protocol
(~1 h on 2 CPU cores) and cnn_protocol.

`--quick` shrinks every size (tests); its numbers mean nothing.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Sequence

from absl import flags
from absl import logging

from experiments.benchmarks import common
from experiments.benchmarks import registry
from experiments.lib import cli


def define_flags() -> None:
  """The binary's flags; defined only when run as a program, so that tests
  and other binaries can import this module in one process."""
  flags.DEFINE_string('out', '', 'Write the results as JSON here.')
  flags.DEFINE_bool('quick', False, 'Tiny sizes (tests); numbers mean '
                    'nothing.')
  flags.DEFINE_list('items', registry.default_items(),
                    f'Subset of {", ".join(registry.ITEMS)} (default: all '
                    'but those run on request).')
  flags.DEFINE_string(
      'features', None, 'FeatureSet .npz for the generation, transfer, '
      'protocol and cnn_protocol items (default: the newest '
      'features/emodb_audio*.npz; "" = none: random/synthetic rows).')
  flags.DEFINE_integer('rounds', 3, 'Alternating rounds of the reference '
                       'and cnn_protocol items.')
  flags.DEFINE_integer('protocol_rounds', 2, 'Alternating rounds of the '
                       'protocol item.')
  flags.DEFINE_string(
      'compare_rev', '', 'The reference and protocol items also time this git '
      'revision of the project (e.g. the commit before a speed change).')
  flags.DEFINE_integer(
      'fake_devices', 8, 'On CPU, re-run with this many host devices so the '
      'scaling item can scale (1 = never).')


def main(argv: Sequence[str]) -> None:
  f = flags.FLAGS
  if len(argv) > 1:
    raise ValueError(f'unexpected arguments {argv[1:]}')
  registry.check(f.items)  # before any re-run or measurement
  if not f['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  rc = common.reexec_with_devices(f.fake_devices, sys.argv)
  if rc is not None:
    sys.exit(rc)
  features = f.features
  if features is None:
    features = '' if f.quick else common.find_features()
  from data_prep import store  # pylint: disable=g-import-not-at-top
  ctx = common.Context(
      sizes=common.TINY if f.quick else common.PAPER,
      fs=store.load(features) if features else None, features=features,
      rounds=1 if f.quick else f.rounds,
      protocol_rounds=1 if f.quick else f.protocol_rounds,
      compare_rev=f.compare_rev,
      out_dir=os.path.dirname(os.path.abspath(f.out)) if f.out else '.')
  results = registry.run(ctx, f.items)
  print(registry.markdown(results), flush=True)
  if f.out:
    from pathnet_jax import metrics  # pylint: disable=g-import-not-at-top
    with open(f.out, 'w') as out:
      json.dump(metrics.jsonable(results), out, indent=1)
    print(f'wrote {f.out}')


if __name__ == '__main__':
  cli.run(main, define_flags)
