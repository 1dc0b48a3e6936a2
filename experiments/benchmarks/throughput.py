"""Items 1-2 'throughput': pathway-steps/s of the paper's model (one pathway
per call, the tournament pair in one call, P pathways in one call; 'gather'
and 'dense' layer-1 compute) and their executed FLOP/s against a plain
jnp.dot of the layer-1 shape and the machine's GEMM peak."""
from __future__ import annotations

import functools
import math
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp

from experiments.benchmarks import common
from pathnet_jax import model as model_lib
from pathnet_jax import parallel
from pathnet_jax import pathway
from pathnet_jax import train as train_lib


def flops_per_pathway_step(sizes: common.Sizes, compute: str,
                           mode: str = 'sequential') -> float:
  """Executed FLOPs of one SGD step of one pathway.

  Layer 1 (d = 12288 inputs for the paper) is a forward matmul and a
  weight gradient (inputs need no gradient); deeper layers and the head add
  forward, weight and input gradients. 'gather' computes the N active
  modules; 'dense' in 'sequential' mode all M of them (the pathway's slice
  is the whole stack), in 'parallel' mode only the N a pathway takes from
  the shared all-M slice.
  """
  b, u, c = sizes.batch_size, sizes.module_units, sizes.num_classes
  all_m = compute == 'dense' and mode == 'sequential'
  k = sizes.num_modules if all_m else sizes.max_active
  d = math.prod(sizes.example_shape)
  layer1 = 4 * b * d * k * u
  deeper = (sizes.num_layers - 1) * 6 * b * u * k * u
  return float(layer1 + deeper + 6 * b * u * c)


def dot_peak(sizes: common.Sizes, compute: str, reps: int = 30) -> float:
  """FLOP/s of a plain jnp.dot of the layer-1 shape [B, d] @ [d, K*U]."""
  k = sizes.max_active if compute == 'gather' else sizes.num_modules
  d = math.prod(sizes.example_shape)
  a = jnp.ones((sizes.batch_size, d), jnp.float32)
  w = jnp.ones((d, k * sizes.module_units), jnp.float32)
  t = common.timed(jax.jit(jnp.dot), a, w, reps=reps)['best_s']
  return 2.0 * sizes.batch_size * d * k * sizes.module_units / t


def gemm_peak(n: int, reps: int = 3) -> float:
  """FLOP/s of a large square float32 product [n, n] @ [n, n] at JAX's
  default precision (TF32 passes on recent NVIDIA GPUs): the machine's
  GEMM peak for the model's dtype. The layer-1 dot above is the right bar
  on a CPU; on a GPU one small dot per call is launch-bound and this is."""
  a, b = jax.random.normal(jax.random.key(0), (2, n, n), jnp.float32)
  t = common.timed(jax.jit(jnp.dot), a, b, reps=reps)['best_s']
  return 2.0 * n ** 3 / t


def train_call(sizes: common.Sizes, num_pathways: int, mode: str, compute: str,
               steps: int, mesh=None):
  """(jitted fn, its args): train `num_pathways` pathways `steps` steps.

  With a mesh the call is sharded exactly as gen_lib.generation shards it.
  """
  cfg = common.pathnet_config(sizes)
  tx = train_lib.make_optimizer(cfg)
  d = math.prod(sizes.example_shape)
  k_data, k_init, k_gen, k_paths = jax.random.split(jax.random.key(0), 4)
  x = jax.random.normal(k_data, (sizes.rows,) + sizes.example_shape)
  y = jnp.arange(sizes.rows, dtype=jnp.int32) % sizes.num_classes
  params = model_lib.init(k_init, cfg, d, sizes.num_classes)
  genotypes = pathway.random_genotypes(k_gen, num_pathways, sizes.num_layers,
                                       sizes.max_active, sizes.num_modules)
  indices, weights = pathway.slots(genotypes)
  frozen = jnp.zeros((sizes.num_layers, sizes.num_modules), bool)
  fn = functools.partial(
      train_lib.train_pathways, tx=tx, frozen=frozen, num_steps=steps,
      batch_size=sizes.batch_size, mode=mode, compute=compute)

  def call(params, opt_state, indices, weights, x, y, key_data):
    keys = jax.random.split(jax.random.wrap_key_data(key_data), num_pathways)
    augment = None
    if mesh is not None:
      indices, weights, keys, augment = parallel.shard_training(
          mesh, indices, weights, keys)
    return fn(params, opt_state, indices, weights, x, y, keys,
              augment=augment)

  args = (params, tx.init(params), indices, weights, x, y,
          jax.random.key_data(k_paths))
  if mesh is not None:
    args = parallel.place(args, parallel.replicated(mesh))
  return jax.jit(call), args


def steps_for(sizes: common.Sizes, num_pathways: int) -> int:
  return max(2, sizes.work // num_pathways)


def pathway_rate(sizes: common.Sizes, num_pathways: int, mode: str, compute: str,
                 mesh=None) -> dict[str, Any]:
  """Pathway-steps per second of one call training P pathways."""
  steps = steps_for(sizes, num_pathways)
  fn, args = train_call(sizes, num_pathways, mode, compute, steps, mesh)
  t = common.timed(fn, *args, reps=sizes.reps)
  rate = num_pathways * steps / t['best_s']
  return {'pathways': num_pathways, 'mode': mode, 'compute': compute,
          'steps_per_call': steps, 'call_s': t['best_s'],
          'compile_s': max(0.0, t['first_s'] - t['best_s']),
          'pathway_steps_per_s': rate,
          'gflop_per_s': rate * flops_per_pathway_step(sizes, compute,
                                                       mode) / 1e9}


def layer1_kernels(sizes: common.Sizes, num_pathways: int) -> list[dict[str, Any]]:
  """Forward + weight gradient of layer 1 alone for P pathways, three ways.

  Isolates the matmul formulation from the rest of the step: the vmapped
  gather (what train.py's 'parallel' mode compiles to: a batched dot), the
  same gather as a `lax.map` over pathways (P plain dots), and the dense
  all-modules product (one big dot, M/N times the FLOPs).
  """
  p, b, d = num_pathways, sizes.batch_size, math.prod(sizes.example_shape)
  m, k, u = sizes.num_modules, sizes.max_active, sizes.module_units
  keys = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(keys[0], (p, b, d))
  w = jax.random.normal(keys[1], (m, d, u))
  idx = jax.random.randint(keys[2], (p, k), 0, m)
  one = lambda xp, ip, w: jnp.einsum('bd,kdu->bku', xp, w[ip])
  # train.py's layout: each pathway's slice [K, U, d] gathered once.
  slice_w = jnp.swapaxes(w[idx], 2, 3)  # [P, K, U, d]
  kernels = {
      'vmap gather': (lambda w: jnp.sum(jax.vmap(one, (0, 0, None))(
          x, idx, w) ** 2), k),
      'lax.map gather': (lambda w: jnp.sum(jax.lax.map(
          lambda a: one(*a, w), (x, idx)) ** 2), k),
      'dense': (lambda w: jnp.sum(jnp.einsum('pbd,mdu->pbmu', x, w) ** 2), m),
      'slice [K, U, d] (train.py)': (lambda s: jnp.sum(jax.lax.map(
          lambda a: jnp.einsum('bd,kud->bku', *a), (x, s)) ** 2), k),
  }
  rows = []
  for name, (loss, width) in kernels.items():
    arg = slice_w if name.startswith('slice') else w
    t = common.timed(jax.jit(jax.grad(loss)), arg, reps=sizes.reps + 1)['best_s']
    rows.append({'kernel': name, 'pathways': p,
                 'useful_gflop_per_s': 4 * p * b * d * k * u / t / 1e9,
                 'executed_gflop_per_s': 4 * p * b * d * width * u / t / 1e9})
  return rows


def bench_throughput(sizes: common.Sizes) -> dict[str, Any]:
  """Items 1 and 2 for both layer-1 computes."""
  peaks = {c: dot_peak(sizes, c) for c in model_lib.COMPUTES}
  rows = []
  for compute in model_lib.COMPUTES:
    cases = [(1, 'sequential', 'one pathway per call'),
             (2, 'sequential', 'tournament pair in one call (paper order)'),
             (2, 'parallel', 'tournament pair in one call (parallel)')]
    cases += [(p, 'parallel', f'{p} pathways in one call')
              for p in sizes.pathway_counts]
    if compute == 'dense':  # 5x the FLOPs: only where it could still win
      cases = [c for c in cases if c[0] in sizes.dense_counts]
    base = None
    for p, mode, label in cases:
      row = {'case': label, **pathway_rate(sizes, p, mode, compute)}
      base = base or row['pathway_steps_per_s']
      row['speedup_vs_one_per_call'] = row['pathway_steps_per_s'] / base
      rows.append(row)
      logging.info('%s', row)
  # Measured again after the steps: on a shared machine the faster of the
  # two readings is the better estimate of the peak.
  peaks = {c: max(v, dot_peak(sizes, c)) for c, v in peaks.items()}
  gemm = gemm_peak(sizes.gemm_size)
  for r in rows:
    shape = ('dense' if r['compute'] == 'dense' and r['mode'] == 'sequential'
             else 'gather')  # the matmul shape the step executes
    r['fraction_of_dot_peak'] = r['gflop_per_s'] * 1e9 / peaks[shape]
    r['fraction_of_gemm_peak'] = r['gflop_per_s'] * 1e9 / gemm
  gather1 = next(r for r in rows if r['compute'] == 'gather' and
                 r['pathways'] == 1)['pathway_steps_per_s']
  for r in rows:
    r['speedup_vs_gather_one_per_call'] = r['pathway_steps_per_s'] / gather1
  kernels = layer1_kernels(sizes, max(sizes.pathway_counts[:2]))
  for r in kernels:
    r['fraction_of_dot_peak'] = (r['executed_gflop_per_s'] * 1e9 /
                                 peaks['dense' if r['kernel'] == 'dense'
                                       else 'gather'])
    r['fraction_of_gemm_peak'] = r['executed_gflop_per_s'] * 1e9 / gemm
  return {'rows': rows, 'layer1_kernels': kernels, 'dot_peak_gflop_per_s':
          {c: v / 1e9 for c, v in peaks.items()},
          'gemm_size': sizes.gemm_size, 'gemm_peak_gflop_per_s': gemm / 1e9}


def run(ctx: common.Context) -> dict[str, Any]:
  return bench_throughput(ctx.sizes)


def markdown(th: dict[str, Any]) -> list[str]:
  """The item's section of the report."""
  peaks = ', '.join(f'{k} {v:.1f}' for k, v in
                    th['dot_peak_gflop_per_s'].items())
  out = ['### 1–2. Pathway-steps per second (paper model, batch 64)', '',
         f'jnp.dot layer-1 peak, GFLOP/s: {peaks}; machine GEMM peak '
         f"(float32 {th['gemm_size']}² product): "
         f"{th['gemm_peak_gflop_per_s']:.1f}", '',
         '| case | P | mode | compute | pathway-steps/s | × one per call '
         '| GFLOP/s | of dot peak | of GEMM peak |',
         '|---|---|---|---|---|---|---|---|---|']
  for r in th['rows']:
    out.append(
        f"| {r['case']} | {r['pathways']} | {r['mode']} | {r['compute']} | "
        f"{r['pathway_steps_per_s']:.1f} | "
        f"{r['speedup_vs_gather_one_per_call']:.2f} | "
        f"{r['gflop_per_s']:.1f} | {100 * r['fraction_of_dot_peak']:.0f}% | "
        f"{100 * r['fraction_of_gemm_peak']:.1f}% |")
  out += ['', 'Layer 1 alone (forward + weight gradient):', '',
          '| kernel | P | useful GFLOP/s | executed GFLOP/s | of dot peak '
          '| of GEMM peak |', '|---|---|---|---|---|---|']
  for r in th['layer1_kernels']:
    out.append(f"| {r['kernel']} | {r['pathways']} | "
               f"{r['useful_gflop_per_s']:.1f} | "
               f"{r['executed_gflop_per_s']:.1f} | "
               f"{100 * r['fraction_of_dot_peak']:.0f}% | "
               f"{100 * r['fraction_of_gemm_peak']:.1f}% |")
  out.append('')
  return out
