"""The benchmark's items by name: `python -m experiments.benchmark
--items=a,b` runs exactly those, in this order, each a module of this
package with `run(ctx) -> result` and `markdown(result) -> lines`.

  reference     one paper generation: this code vs a sequential NumPy
                PathNet and, with --compare_rev, an earlier revision
  generation    one paper generation on an EMO-DB fold, the 5-fold G=200
                time extrapolated, time to a training fitness
  throughput    pathway-steps/s and FLOP/s of the paper's model
  scaling       pathway-steps/s on 1, 2, 4, 8 devices
  transfer      PathNet transfer vs the fine-tuning CNN on the same fold
  faces         face-crop throughput on a real photo's video
  protocol      whole PathNet protocols (experiments.train on EMO-DB
                features) batched vs one run at a time (on request)
  cnn_protocol  a fine-tuning CNN protocol batched vs one run at a time
                (on request)
  cost_growth   peak RSS and time per generation as rows, population,
                modules and runs grow; extraction against file count
                (on request: ~30 min, 25 GB of scratch disk)
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, NamedTuple, Sequence

from experiments.benchmarks import cnn_protocol
from experiments.benchmarks import common
from experiments.benchmarks import cost_growth
from experiments.benchmarks import faces
from experiments.benchmarks import generation
from experiments.benchmarks import protocol
from experiments.benchmarks import scaling
from experiments.benchmarks import speedup
from experiments.benchmarks import throughput
from experiments.benchmarks import transfer


class Item(NamedTuple):
  run: Callable[[common.Context], dict[str, Any]]
  markdown: Callable[[dict[str, Any]], list[str]]
  on_request: bool = False  # long: run only when --items names it


# 'generation' early, so the peak memory it reports is mostly its own.
ITEMS: dict[str, Item] = {
    'reference': Item(speedup.run, speedup.markdown),
    'generation': Item(generation.run, generation.markdown),
    'throughput': Item(throughput.run, throughput.markdown),
    'scaling': Item(scaling.run, scaling.markdown),
    'transfer': Item(transfer.run, transfer.markdown),
    'faces': Item(faces.run, faces.markdown),
    'protocol': Item(protocol.run, protocol.markdown, on_request=True),
    'cnn_protocol': Item(cnn_protocol.run, cnn_protocol.markdown,
                         on_request=True),
    'cost_growth': Item(cost_growth.run, cost_growth.markdown,
                        on_request=True),
}


def default_items() -> list[str]:
  """The items run without --items: all but the ones run on request."""
  return [name for name, item in ITEMS.items() if not item.on_request]


def check(names: Sequence[str]) -> None:
  """One clear error for an unknown item name."""
  unknown = sorted(set(names) - set(ITEMS))
  if unknown:
    raise ValueError(f'unknown benchmark items {unknown}; valid: '
                     f'{", ".join(ITEMS)}')


def run(ctx: common.Context, names: Sequence[str]) -> dict[str, Any]:
  """{'machine', 'sizes', 'features', <item>: result, 'item_seconds', ...}
  of exactly the named items, in ITEMS' order."""
  check(names)
  results: dict[str, Any] = {'machine': common.machine(),
                             'sizes': dataclasses.asdict(ctx.sizes),
                             'features': ctx.features or None,
                             'item_seconds': {}}
  t0 = time.perf_counter()
  for name, item in ITEMS.items():
    if name not in names:
      continue
    t = time.perf_counter()
    results[name] = item.run(ctx)
    results['item_seconds'][name] = time.perf_counter() - t
    print(f'[benchmark] {name} done in {time.perf_counter() - t:.0f}s',
          flush=True)
  results['total_s'] = time.perf_counter() - t0
  results['peak_rss_mb'] = common.peak_rss_mb()
  results['machine']['load_average_end'] = list(os.getloadavg())
  return results


def markdown(results: dict[str, Any]) -> str:
  """The machine line and each item's tables (docs/speed.md records them)."""
  m = results['machine']
  out = [f"Machine: {m['cpu']}, {m['cpu_cores']} cores, {m['device_count']} "
         f"{m['platform']} device(s) ({m['device_kind']}), jax {m['jax']}, "
         f"load average at start {m['load_average_start'][0]:.1f}", '']
  for name, item in ITEMS.items():
    if name in results:
      out += item.markdown(results[name])
  return '\n'.join(out)
