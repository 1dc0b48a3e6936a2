"""Item 'cost_growth' (issue 34): peak RSS and time per generation as the
rows, the population, the modules and the runs (folds x seeds) grow, and
extraction's throughput and peak RSS as the files grow. Each point runs in
its own process (cost_worker.py), on synthetic features written directly
(no audio) for training and on generated one-second wav files for
extraction, in a scratch folder removed afterwards. The log-log slope of
time per generation against training rows says whether cost grows at
most linearly (goal: <= 1.1).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

import numpy as np

from experiments.benchmarks import common
from experiments.lib import plots

FIGURE = 'cost_growth.png'


def _point(kind: str, store_dir: str, **args) -> dict[str, Any]:
  """One cost_worker run (default XLA device count: the fake devices of the
  scaling item are not what a user's run gets)."""
  env = dict(os.environ)
  env['XLA_FLAGS'] = ' '.join(
      f for f in env.get('XLA_FLAGS', '').split()
      if not f.startswith(common.FAKE_DEVICES_FLAG))
  cmd = [sys.executable, '-m', 'experiments.benchmarks.cost_worker', kind,
         f'--store_dir={store_dir}', *(f'--{k}={v}' for k, v in args.items())]
  out = subprocess.run(cmd, env=env, check=False, capture_output=True,
                       text=True)
  if out.returncode:  # the worker's own error, not only its exit status
    raise RuntimeError(f'{" ".join(cmd[2:])} failed:\n{out.stderr[-3000:]}')
  point = json.loads(out.stdout.strip().splitlines()[-1])
  print(f'[cost_growth] {point}', flush=True)
  return point


def slope(x, y) -> float:
  """The log-log least-squares slope of y against x."""
  return float(np.polyfit(np.log(np.asarray(x, float)),
                          np.log(np.asarray(y, float)), 1)[0])


def run(ctx: common.Context) -> dict[str, Any]:
  s = ctx.sizes
  scratch = tempfile.mkdtemp(prefix='cost_growth_')
  try:
    rows = [_point('train', scratch, utterances=u)
            for u in s.cost_utterances]
    # The big stores (25 GB at 100,000 utterances) are not needed again.
    for u in s.cost_utterances[2:]:
      shutil.rmtree(os.path.join(scratch, f'synthetic_{u}.fs'), True)
    u = s.cost_utterances[min(1, len(s.cost_utterances) - 1)]
    population = [_point('train', scratch, utterances=u, population=p)
                  for p in s.cost_populations]
    modules = [_point('train', scratch, utterances=u, modules=m)
               for m in s.cost_modules]
    runs = [_point('train', scratch, utterances=u, runs=r)
            for r in s.cost_runs]
    extract = [_point('extract', scratch, files=n) for n in s.cost_files]
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  result = {'rows': rows, 'population': population, 'modules': modules,
            'runs': runs, 'extract': extract,
            'rows_slope': slope([p['train_rows'] for p in rows],
                                [p['generation_s'] for p in rows]),
            'extract_rss_ratio': (extract[-1]['peak_rss_mb'] /
                                  extract[0]['peak_rss_mb'])}
  result['figure'] = os.path.join(ctx.out_dir, FIGURE)
  plot(result, result['figure'])
  return result


def plot(result: dict[str, Any], path: str) -> None:
  """Log-log: seconds per generation and peak RSS against training rows."""
  rows = result['rows']
  n = [p['train_rows'] for p in rows]
  plots.plot_loglog(
      {'seconds per generation': (n, [p['generation_s'] for p in rows]),
       'peak RSS (GB)': (n, [p['peak_rss_mb'] / 1024 for p in rows])},
      'training rows (segments)', path,
      title=f"improved, 1 run: time slope {result['rows_slope']:.2f}")


def markdown(r: dict[str, Any]) -> list[str]:
  def train_table(title, key, points):
    out = [f'**{title}**', '',
           f'| {key} | segments | training rows | store GB | streamed | '
           'prepare s | s per generation | peak RSS GB |',
           '|---|---|---|---|---|---|---|---|']
    for p in points:
      out.append(
          f"| {p[key]} | {p['segments']:,} | {p['train_rows']:,} | "
          f"{p['store_gb']:.2f} | {'yes' if p['streamed'] else 'no'} | "
          f"{p['prep_s']:.1f} | {p['generation_s']:.2f} | "
          f"{p['peak_rss_mb'] / 1024:.2f} |")
    return out + ['']

  out = ['### Cost growth (`improved`, fold 0 of 5, synthetic segments, '
         'each point its own process)', '']
  out += train_table('Rows (population 20, 20 modules, 1 run); log-log '
                     f"slope of time per generation {r['rows_slope']:.2f}",
                     'utterances', r['rows'])
  out += train_table('Population (20 modules, 1 run)', 'population',
                     r['population'])
  out += train_table('Modules (population 20, 1 run)', 'modules',
                     r['modules'])
  out += train_table('Runs (folds x seeds in one batch)', 'runs', r['runs'])
  out += ['**Extraction** (one-second wav files, store written as it goes; '
          f"peak RSS of the largest / smallest: {r['extract_rss_ratio']:.2f})",
          '', '| files | workers | segments | files/s | peak RSS GB (main) | '
          'peak RSS GB (a worker) |', '|---|---|---|---|---|---|']
  for p in r['extract']:
    out.append(f"| {p['files']:,} | {p['workers']} | {p['segments']:,} | "
               f"{p['files_per_s']:.0f} | {p['peak_rss_mb'] / 1024:.2f} | "
               f"{p['worker_peak_rss_mb'] / 1024:.2f} |")
  return out + ['', f"Figure: {os.path.basename(r['figure'])}", '']
