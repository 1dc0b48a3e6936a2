"""Benchmark item 'protocol': whole protocols end to end, the way users run
them, batched (this revision: every fold and seed in one program) against
one run at a time (an earlier revision: a process per seed, each fold
compiled and evolved alone, a host round trip per generation).

Every side is the `experiments.train` binary in its own process on the same
cached FeatureSet; the sides alternate for `rounds` rounds and the fastest
wall of each counts (the machines are shared and noisy). The batched side
runs without the persistent compilation cache (a first run), and once more
with it warm. Its generation compute is read from its own results: the
steady per-generation time of the batch's calls (all but the first, which
compiles) times the generations.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Sequence

import numpy as np

from experiments.benchmarks import speedup

ROOT = speedup.ROOT
# (name, config file, overrides, seeds): the protocols the issue times.
PROTOCOLS = {
    'improved_speaker EMO-DB LOSO x 3 seeds': (
        'experiments/configs/improved_speaker.py',
        ['--config.protocol=speaker_kfold', '--config.n_splits=0'],
        (0, 1, 2)),
    'paper A_EMO random 5-fold': ('experiments/configs/paper.py', [], (0,)),
}
QUICK = ['--config.evolution.generations=2',
         '--config.evolution.checkpoint_every=1',
         '--config.evolution.population_size=4',
         '--config.model.num_modules=4', '--config.model.module_units=8',
         '--config.folds=0,1']


def _train(root: str, config: str, overrides: Sequence[str], seeds_flag: str,
           workdir: str, features: str, extra: Sequence[str] = ()) -> float:
  """Wall seconds of one `experiments.train` process (it must succeed)."""
  cmd = [sys.executable, '-m', 'experiments.train', f'--config={config}',
         f'--config.target={features}', *overrides, seeds_flag,
         f'--workdir={workdir}', *extra]
  env = dict(os.environ)
  env.pop('XLA_FLAGS', None)  # one device, as a user's run
  t0 = time.perf_counter()
  proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True,
                        text=True, check=False)
  wall = time.perf_counter() - t0
  if proc.returncode != 0:
    raise RuntimeError(f'{" ".join(cmd)} failed in {root}:\n'
                       f'{proc.stderr[-3000:]}')
  return wall


def generation_compute_s(results: dict[str, Any], generations: int,
                         per_call: int) -> float:
  """Seconds the batch's generations compute, without compiling or host
  work: the steady time per generation of its calls (every call after the
  first) times the generations. `results`: a seed's results.json (all runs
  of a batch share one timeline)."""
  seconds = np.asarray(results['folds'][0]['history']['seconds'])
  steady = seconds[per_call:]
  return float(np.median(steady) * generations) if steady.size else float(
      seconds.sum())


def bench_protocol(features: str, rounds: int, compare_rev: str,
                   quick: bool = False,
                   names: Sequence[str] = tuple(PROTOCOLS)) -> dict[str, Any]:
  """Walls of each protocol: batched vs one run at a time, alternated."""
  out: dict[str, Any] = {'features': features, 'rounds': rounds,
                         'compare_rev': compare_rev or None, 'rows': []}
  with contextlib.ExitStack() as stack:
    old_root = (stack.enter_context(speedup.checkout(compare_rev))
                if compare_rev else '')
    tmp = stack.enter_context(tempfile.TemporaryDirectory())
    for name in names:
      config, overrides, seeds = PROTOCOLS[name]
      overrides = overrides + (QUICK if quick else [])
      seeds_flag = f'--config.seeds={",".join(map(str, seeds))}'
      walls = {'batched': [], 'one run at a time': []}
      cache = os.path.join(tmp, 'xla_' + str(len(out['rows'])))
      for r in range(rounds):
        work = os.path.join(tmp, f'{len(out["rows"])}_{r}')
        walls['batched'].append(_train(
            ROOT, config, overrides, seeds_flag, os.path.join(work, 'b'),
            features, ['--nocompilation_cache']))
        if old_root:
          walls['one run at a time'].append(sum(
              _train(old_root, config, overrides, f'--config.seed={s}',
                     os.path.join(work, f'old_{s}'), features)
              for s in seeds))
      # The compilation cache: a first run fills it, a second one reads it.
      cache_flags = [f'--config.cache_dir={cache}']
      _train(ROOT, config, overrides + cache_flags, seeds_flag,
             os.path.join(tmp, f'warm_fill_{len(out["rows"])}'), features)
      warm = _train(ROOT, config, overrides + cache_flags, seeds_flag,
                    os.path.join(tmp, f'warm_{len(out["rows"])}'), features)
      with open(os.path.join(work, 'b', 'seed_0', 'results.json')) as f:
        seed0 = json.load(f)
      generations = int(seed0['config']['evolution']['generations'])
      per_call = int(seed0['config']['evolution']['checkpoint_every'] or
                     max(1, -(-generations // 10)))
      compute = generation_compute_s(seed0, generations, per_call)
      best = {k: min(v) if v else None for k, v in walls.items()}
      runs = len(seeds) * seed0['n_folds']
      out['rows'].append({
          'protocol': name, 'runs': runs, 'walls_s': walls,
          'batched_s': best['batched'],
          'one_run_at_a_time_s': best['one run at a time'],
          'batched_warm_cache_s': warm,
          'speedup': (best['one run at a time'] / best['batched']
                      if best['one run at a time'] else None),
          'generation_compute_s': compute,
          'wall_over_compute': best['batched'] / compute,
          'compute_share_of_wall': compute / best['batched'],
          'device': seed0['device']})
  return out


def run(ctx) -> dict[str, Any]:
  """Item 'protocol' on a benchmarks.common.Context (needs --features)."""
  if not ctx.features:
    raise ValueError('item protocol needs --features (EMO-DB .npz)')
  return bench_protocol(os.path.abspath(ctx.features), ctx.protocol_rounds,
                        ctx.compare_rev, quick=ctx.quick)


def markdown(result: dict[str, Any]) -> list[str]:
  """The item's section of the report."""
  rev = result['compare_rev'] or '(no --compare_rev: not timed)'
  lines = ['### 6. Whole protocols, end to end', '',
           f'Fastest of {result["rounds"]} alternating round(s); one run at '
           f'a time = revision {rev}, a process per seed.', '',
           '| protocol | runs | one run at a time | batched | × | batched, '
           'warm compile cache | generation compute | wall / compute |',
           '|---|---|---|---|---|---|---|---|']
  for r in result['rows']:
    old = (f"{r['one_run_at_a_time_s']:.0f} s"
           if r['one_run_at_a_time_s'] else '–')
    speed = f"{r['speedup']:.2f}" if r['speedup'] else '–'
    lines.append(
        f"| {r['protocol']} | {r['runs']} | {old} | {r['batched_s']:.0f} s | "
        f"{speed} | {r['batched_warm_cache_s']:.0f} s | "
        f"{r['generation_compute_s']:.0f} s | {r['wall_over_compute']:.2f} |")
  return lines + ['']
