"""Benchmark item 'reference': one paper generation against the sequential
NumPy reference (experiments/benchmarks/reference.py) and, optionally,
against the same generation of an earlier revision of this project.

Every side runs in its own process (compile and warm-up excluded from the
times) and the sides alternate for several rounds; the fastest generation of
each side counts, because these machines are shared and noisy.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Iterator, Sequence

from experiments.benchmarks import reference

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
WORKER = os.path.join(ROOT, 'experiments', 'benchmarks', 'generation_worker.py')


def _json_line(cmd: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
  proc = subprocess.run(list(cmd), cwd=ROOT, env=env, capture_output=True,
                        text=True, check=False)
  if proc.returncode != 0:
    raise RuntimeError(f'{" ".join(cmd)} failed:\n{proc.stderr[-3000:]}')
  return json.loads(proc.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[str]:
  """A temporary export of git revision `rev` of this repository."""
  with tempfile.TemporaryDirectory() as tmp:
    archive = subprocess.run(['git', 'archive', rev], cwd=ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(['tar', '-x', '-C', tmp], input=archive, check=True)
    yield tmp


def reference_args(sizes) -> list[str]:
  d_in = 1
  for s in sizes.example_shape:
    d_in *= s
  return [f'--rows={sizes.fallback_train_rows}',
          f'--classes={sizes.num_classes}', f'--d_in={d_in}',
          f'--layers={sizes.num_layers}', f'--modules={sizes.num_modules}',
          f'--units={sizes.module_units}',
          f'--max_active={sizes.max_active}',
          f'--population={sizes.population}',
          f'--batch_size={sizes.batch_size}']


def worker_args(sizes, config: str) -> list[str]:
  shape = ','.join(str(s) for s in sizes.example_shape)
  return [f'--config={config}', f'--rows={sizes.fallback_train_rows}',
          f'--classes={sizes.num_classes}', f'--shape={shape}',
          f'--set=model.num_layers={sizes.num_layers}',
          f'--set=model.num_modules={sizes.num_modules}',
          f'--set=model.module_units={sizes.module_units}',
          f'--set=model.max_active={sizes.max_active}',
          f'--set=evolution.population_size={sizes.population}',
          f'--set=optim.batch_size={sizes.batch_size}']


def bench_reference(sizes, rounds: int, compare_rev: str = '',
                    configs: Sequence[str] = ('paper', 'improved')
                    ) -> dict[str, Any]:
  """Seconds per generation: NumPy reference (paper config only), this
  code, and `compare_rev` (if given), alternating `rounds` times."""
  env = dict(os.environ)
  env.pop('XLA_FLAGS', None)  # one device, as a user's run
  ref_env = {**env, **reference.MALLOC_ENV}
  with contextlib.ExitStack() as stack:
    old_root = stack.enter_context(checkout(compare_rev)) if compare_rev else ''
    sides = {('paper', 'numpy reference'): (
        [sys.executable, '-m', 'experiments.benchmarks.reference',
         *reference_args(sizes), '--reps=2'], ref_env)}
    for config in configs:
      args = [sys.executable, WORKER, *worker_args(sizes, config), '--reps=2']
      sides[(config, 'this revision')] = (args, {**env, 'PYTHONPATH': ROOT})
      if old_root:
        sides[(config, f'revision {compare_rev}')] = (
            args, {**env, 'PYTHONPATH': old_root})
    times: dict[tuple[str, str], list[float]] = {k: [] for k in sides}
    compile_s: dict[tuple[str, str], list[float]] = {k: [] for k in sides}
    for _ in range(rounds):
      for key, (cmd, side_env) in sides.items():
        out = _json_line(cmd, side_env)
        times[key] += out['seconds']
        if 'compile_s' in out:
          compile_s[key].append(out['compile_s'])
  rows = []
  for (config, side), seconds in times.items():
    rows.append({'config': config, 'side': side, 'generation_s': min(seconds),
                 'all_s': seconds, 'compile_s': min(compile_s[(config, side)])
                 if compile_s[(config, side)] else None})
  for r in rows:
    this = next(t for t in rows if t['config'] == r['config'] and
                t['side'] == 'this revision')
    r['this_revision_speedup'] = r['generation_s'] / this['generation_s']
  return {'rows_per_fold': sizes.fallback_train_rows, 'rounds': rounds,
          'compare_rev': compare_rev or None, 'rows': rows}


def run(ctx) -> dict[str, Any]:
  """Item 'reference' on a benchmarks.common.Context."""
  return bench_reference(ctx.sizes, ctx.rounds, ctx.compare_rev)


def markdown(result: dict[str, Any]) -> list[str]:
  out = ['### 0. One generation against the sequential reference', '',
         f"{result['rows_per_fold']} random training rows, one tournament "
         f"(2 pathways × T steps + fitness on every row); fastest of "
         f"{result['rounds']} alternating rounds × 2 generations per side.",
         '', '| config | implementation | s / generation | this revision '
         'is × faster |', '|---|---|---|---|']
  for r in result['rows']:
    out.append(f"| {r['config']} | {r['side']} | {r['generation_s']:.3f} | "
               f"{r['this_revision_speedup']:.2f} |")
  return out + ['']
