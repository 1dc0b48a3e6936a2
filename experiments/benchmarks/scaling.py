"""Item 5 'scaling': pathway-steps/s of P pathways sharded over 1, 2, 4, 8
devices (on CPU, fake host devices: the benchmark re-runs itself with
--fake_devices)."""
from __future__ import annotations

from typing import Any

import jax

from experiments.benchmarks import common
from experiments.benchmarks import throughput
from pathnet_jax import parallel


def bench_scaling(sizes: common.Sizes) -> dict[str, Any]:
  """Item 5: P pathways ('parallel', gather) sharded over 1, 2, 4, 8 devices."""
  devices = jax.devices()
  counts = [c for c in (1, 2, 4, 8) if c <= len(devices)]
  rows = []
  for count in counts:
    mesh = parallel.make_mesh(sizes.scaling_pathways, devices[:count])
    row = throughput.pathway_rate(sizes, sizes.scaling_pathways, 'parallel',
                                  'gather', mesh)
    rows.append({'devices': count, 'mesh': dict(mesh.shape), **row})
  for r in rows:
    r['speedup_vs_1_device'] = (r['pathway_steps_per_s'] /
                                rows[0]['pathway_steps_per_s'])
  return {'device_kind': devices[0].device_kind,
          'fake_cpu_devices': devices[0].platform == 'cpu' and len(devices) > 1,
          'rows': rows}


def run(ctx: common.Context) -> dict[str, Any]:
  return bench_scaling(ctx.sizes)


def markdown(s: dict[str, Any]) -> list[str]:
  """The item's section of the report."""
  kind = ('fake CPU devices sharing the cores' if s['fake_cpu_devices']
          else s['device_kind'])
  out = [f'### 5. Device scaling ({kind})', '',
         '| devices | mesh (pathways × data) | pathway-steps/s | × 1 device |',
         '|---|---|---|---|']
  for r in s['rows']:
    out.append(f"| {r['devices']} | {r['mesh']['pathways']} × "
               f"{r['mesh']['data']} | {r['pathway_steps_per_s']:.1f} | "
               f"{r['speedup_vs_1_device']:.2f} |")
  out.append('')
  return out
