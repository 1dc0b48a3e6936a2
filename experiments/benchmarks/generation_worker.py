r"""Times one PathNet generation of the code on sys.path, in its own process.

  python experiments/benchmarks/generation_worker.py --config=paper \
      --rows=3000 --reps=3

Run as a script (not with -m) so that PYTHONPATH can point it at another
checkout of the project (experiments.benchmark --compare_rev): it uses only
APIs that every revision has (model.init, train.make_optimizer,
gen_lib.init_state, gen_lib.make_generation_fn). Prints one JSON line:
{"seconds": [...], "compile_s": ...}. Random rows: the time does not depend
on the values.
"""
import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument('--config', default='paper')
  ap.add_argument('--rows', type=int, default=3000)
  ap.add_argument('--classes', type=int, default=7)
  ap.add_argument('--reps', type=int, default=3)
  ap.add_argument('--shape', default='64,64,3')
  ap.add_argument('--set', action='append', default=[],
                  help='config override section.field=int, e.g. '
                  'model.num_modules=6')
  args = ap.parse_args()
  import importlib
  from pathnet_jax import model, train
  from pathnet_jax import generation as gen_lib
  config = importlib.import_module(
      f'experiments.configs.{args.config}').get_config()
  config.evolution.checkpoint_every = 0
  for item in args.set:
    (section, field), value = item.split('=')[0].split('.'), item.split('=')[1]
    config[section][field] = int(value)
  shape = tuple(int(s) for s in args.shape.split(','))
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(args.rows,) + shape).astype(np.float32))
  y = jnp.asarray(rng.integers(0, args.classes, args.rows).astype(np.int32))
  key = jax.random.key(0)
  params = model.init(key, config, shape, args.classes)
  if hasattr(model, 'layer1_input'):  # what evolve() does once per fold
    x = model.layer1_input(params, x)
  tx = train.make_optimizer(config)
  state = gen_lib.init_state(key, config, params, tx)
  frozen = jnp.zeros((config.model.num_layers, config.model.num_modules), bool)
  fn, _ = gen_lib.make_generation_fn(config, tx, args.rows)
  t0 = time.perf_counter()
  state, summary = fn(state, x, y, x, y, frozen, None, None)
  jax.block_until_ready(summary)
  compile_s = time.perf_counter() - t0
  seconds = []
  for _ in range(args.reps):
    t0 = time.perf_counter()
    state, summary = fn(state, x, y, x, y, frozen, None, None)
    jax.block_until_ready(summary)
    seconds.append(time.perf_counter() - t0)
  print(json.dumps({'seconds': seconds, 'compile_s': compile_s}))


if __name__ == '__main__':
  main()
