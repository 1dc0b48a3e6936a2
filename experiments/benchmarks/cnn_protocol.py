"""Item 'cnn_protocol': a fine-tuning CNN protocol end to end, every (seed,
fold) in one batch (experiments/lib/finetune.py, config.run_batching
'auto') against one run at a time, the way the CNN ran before: a run per
seed, its folds trained one after the other (run_batching 'loop').

Both sides are `finetune.train_and_evaluate` in this process on the same
config (corpus loading, pre-training and scoring included), alternated for
`rounds` rounds; the fastest wall of each side counts (shared, noisy
machines; the first round also compiles). Each run's utterance UA is
compared between the sides: they must agree (to rounding under vmap).

Beside it, the CNN's training step alone: its FLOPs (XLA's cost analysis),
its fastest time and their ratio to the machine's GEMM peak, measured in
the same process: how much a faster schedule of the same runs could gain.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any

import jax
import jax.numpy as jnp

from experiments.benchmarks import common
from experiments.benchmarks import throughput
from experiments.configs import finetune as finetune_config
from experiments.lib import cnn
from experiments.lib import cnn_runs
from experiments.lib import finetune

SEEDS = (0, 1, 2)


def protocol_config(ctx: common.Context):
  """A tiny-but-real protocol: 5 random folds x 3 seeds of the CPU-sized
  CNN on --features (by default the newest cached EMO-DB features; '' or
  none cached: the synthetic corpus), 2 epochs (quick: the 'tiny' preset, 1
  epoch, 2 seeds)."""
  config = finetune_config.get_config('tiny' if ctx.quick else '')
  config.epochs = 1 if ctx.quick else 2
  config.seeds = SEEDS[:2] if ctx.quick else SEEDS
  if not ctx.quick:
    config.n_splits = 5
  if ctx.features:
    config.target = ctx.features
  return config


def _batched(config) -> tuple[float, dict[tuple[int, int], float]]:
  with tempfile.TemporaryDirectory() as workdir:
    t0 = time.perf_counter()
    finetune.train_and_evaluate(config, workdir)
    seconds = time.perf_counter() - t0
    ua = {}
    for seed in config.seeds:
      with open(os.path.join(workdir, f'seed_{seed}', 'results.json')) as f:
        for fold in json.load(f)['folds']:
          ua[(seed, fold['fold'])] = fold['utterance']['ua']
  return seconds, ua


def _one_at_a_time(config) -> tuple[float, dict[tuple[int, int], float]]:
  ua, seconds = {}, 0.0
  for seed in config.seeds:
    one = config.copy_and_resolve_references()
    one.seed, one.seeds, one.run_batching = seed, (), 'loop'
    with tempfile.TemporaryDirectory() as workdir:
      t0 = time.perf_counter()
      results = finetune.train_and_evaluate(one, workdir)
      seconds += time.perf_counter() - t0
    ua.update({(seed, f['fold']): f['utterance']['ua']
               for f in results['folds']})
  return seconds, ua


def step_efficiency(config, shape: tuple[int, ...], num_classes: int,
                    gemm_size: int, reps: int = 20) -> dict[str, float]:
  """The CNN's training step on one minibatch [batch, *shape]: GFLOP per
  step (XLA's cost analysis), fastest seconds of `reps` and GFLOP/s, and
  that as a fraction of the float32 GEMM peak (throughput.gemm_peak)."""
  params = cnn.init_cnn(jax.random.key(0), config, num_classes, shape)
  model = cnn.make_model(config.model, num_classes)
  tx = cnn.make_optimizer(config, config.learning_rate)
  args = (params, tx.init(params),
          jnp.ones((config.batch_size,) + tuple(shape), jnp.float32),
          jnp.zeros((config.batch_size,), jnp.int32), jax.random.key(1))
  step = jax.jit(lambda *a: cnn.train_step(model, tx, *a))
  cost = step.lower(*args).compile().cost_analysis()
  flops = float((cost[0] if isinstance(cost, list) else cost)['flops'])
  seconds = common.timed(step, *args, reps=reps)['best_s']
  peak = throughput.gemm_peak(gemm_size)
  return {'gflop_per_step': flops / 1e9, 'step_s': seconds,
          'gflop_per_s': flops / seconds / 1e9,
          'gemm_peak_gflop_per_s': peak / 1e9,
          'fraction_of_gemm_peak': flops / seconds / peak}


def bench_cnn_protocol(ctx: common.Context) -> dict[str, Any]:
  config = protocol_config(ctx)
  rounds = max(1, ctx.rounds)
  walls = {'batched': [], 'one_at_a_time': []}
  differences = []
  for _ in range(rounds):
    batched_s, batched_ua = _batched(config)
    alone_s, alone_ua = _one_at_a_time(config)
    walls['batched'].append(batched_s)
    walls['one_at_a_time'].append(alone_s)
    differences += [abs(batched_ua[k] - alone_ua[k]) for k in alone_ua]
  best = {side: min(v) for side, v in walls.items()}
  shape = ctx.fs.x.shape[1:] if ctx.fs is not None else ctx.sizes.example_shape
  return {'step': step_efficiency(config, shape, ctx.sizes.num_classes,
                                  ctx.sizes.gemm_size,
                                  reps=2 if ctx.quick else 20),
          'target': config.target, 'protocol': config.protocol,
          'n_splits': config.n_splits, 'seeds': list(config.seeds),
          'runs': len(differences) // rounds, 'epochs': config.epochs,
          'batch_size': config.batch_size,
          'batching': cnn_runs.batching_mode(config), 'rounds': rounds,
          'walls_s': walls, 'best_s': best,
          'one_at_a_time_over_batched': best['one_at_a_time'] /
                                        best['batched'],
          'max_ua_difference': max(differences)}


def run(ctx: common.Context) -> dict[str, Any]:
  return bench_cnn_protocol(ctx)


def markdown(r: dict[str, Any]) -> list[str]:
  """The item's section of the report."""
  return [
      '### 8. Fine-tuning CNN protocol, end to end', '',
      f"`{r['target']}`, {r['protocol']} ({r['n_splits']} splits) x seeds "
      f"{', '.join(map(str, r['seeds']))}: {r['runs']} runs of "
      f"{r['epochs']} epoch(s); fastest of {r['rounds']} alternated "
      'round(s).', '',
      '| side | wall s (best) |', '|---|---|',
      f"| every (seed, fold) in one batch ({r['batching']}) | "
      f"{r['best_s']['batched']:.1f} |",
      f"| one run at a time (a run per seed, folds in turn) | "
      f"{r['best_s']['one_at_a_time']:.1f} |", '',
      f"One at a time / batched: **{r['one_at_a_time_over_batched']:.2f}x**; "
      f"largest utterance-UA difference of a run between the sides: "
      f"{r['max_ua_difference']:.2g}.", '',
      f"The training step alone (batch {r['batch_size']}): "
      f"{r['step']['gflop_per_step']:.2f} GFLOP in "
      f"{1e3 * r['step']['step_s']:.1f} ms, "
      f"{r['step']['gflop_per_s']:.1f} GFLOP/s = "
      f"**{r['step']['fraction_of_gemm_peak']:.2f}** of the GEMM peak "
      f"({r['step']['gemm_peak_gflop_per_s']:.0f} GFLOP/s).", '']
