"""Devices: a 2-D mesh over pathways and minibatch rows, shardings, multi-host.

The generation function (evolve.py) stays one jitted program; this module only
says where arrays live and hints how XLA should split the work:

  mesh axes   'pathways' x 'data', both `AxisType.Auto` (GSPMD/Shardy
              propagation; Explicit axes reject some of our gathers)
  pathways    the P tournament pathways of a 'parallel'-mode generation are
              split over the 'pathways' axis; their summed gradient becomes an
              all-reduce
  data        each pathway's minibatch rows are split over the 'data' axis:
              this is where devices go when pathways are fewer than devices
              (always in 'sequential' mode, where pathways run one by one)
  fold data   replicated on every device, so minibatch gathers stay local

The same config therefore runs on 1 CPU (a 1x1 mesh), 8 fake CPU devices, a
GPU or a TPU slice. Several hosts: call `maybe_initialize_distributed()` first
and every host runs the same program on the same data (see README).
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable, Mapping, Sequence

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec
import numpy as np

from pathnet_jax import ga

PATHWAYS = 'pathways'
DATA = 'data'
# The launch variables read when no flag is given. JAX reads the first itself;
# the other two are this project's names for `num_processes`/`process_id`.
ENV_COORDINATOR = 'JAX_COORDINATOR_ADDRESS'
ENV_NUM_PROCESSES = 'JAX_NUM_PROCESSES'
ENV_PROCESS_ID = 'JAX_PROCESS_ID'


def mesh_shape(num_devices: int, num_parallel: int) -> tuple[int, int]:
  """(pathway devices, data devices) for P pathways trained at once.

  The pathway axis takes the largest divisor of both P and the device count,
  so every device holds the same number of pathways; the rest split batches.
  """
  if num_devices < 1 or num_parallel < 1:
    raise ValueError(f'need >= 1 device and pathway, got {num_devices}, '
                     f'{num_parallel}')
  p = math.gcd(int(num_devices), int(num_parallel))
  return p, num_devices // p


def make_mesh(num_parallel: int,
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A ('pathways', 'data') mesh over `devices` (default: all, all hosts)."""
  devices = list(jax.devices() if devices is None else devices)
  shape = mesh_shape(len(devices), num_parallel)
  return jax.make_mesh(shape, (PATHWAYS, DATA),
                       axis_types=(AxisType.Auto, AxisType.Auto),
                       devices=devices)


def parallel_pathways(config) -> int:
  """How many pathways train at the same time in one generation.

  'parallel' mode trains all 2T tournament pathways together; 'sequential'
  (the paper) one after the other, so only batches can be split.
  """
  if config.evolution.train_mode != 'parallel':
    return 1
  return ga.pathways_per_generation(config)


def mesh_from_config(config, devices=None) -> Mesh | None:
  """The mesh `config.parallel` asks for, or None (no sharding, the default).

  config.parallel.mesh: 'auto' = every device JAX sees (all hosts), 'none' or
  a missing section = unsharded; config.parallel.num_devices > 0 uses only
  the first that many devices (benchmarks of device scaling).
  """
  pc = config.get('parallel', None)
  if pc is None or pc.get('mesh', 'none') == 'none':
    return None
  if pc.mesh != 'auto':
    raise ValueError(f"config.parallel.mesh must be 'auto' or 'none', got "
                     f'{pc.mesh!r}')
  devices = list(jax.devices() if devices is None else devices)
  count = int(pc.get('num_devices', 0) or 0)
  if count:
    if count > len(devices):
      raise ValueError(f'config.parallel.num_devices={count} but only '
                       f'{len(devices)} devices: {devices}')
    devices = devices[:count]
  return make_mesh(parallel_pathways(config), devices)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def pathway_sharding(mesh: Mesh) -> NamedSharding:
  """Leading axis P over 'pathways' (e.g. slots [P, L, K], keys [P])."""
  return NamedSharding(mesh, PartitionSpec(PATHWAYS))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading axis B (minibatch rows) over 'data'."""
  return NamedSharding(mesh, PartitionSpec(DATA))


def place(tree: Any, sharding: NamedSharding) -> Any:
  """Put every array leaf of `tree` on the mesh with `sharding`.

  Built from host values with `make_array_from_callback`, which also works
  when the mesh spans several processes: each host supplies its own shards
  of the (identical) value. Non-array leaves pass through.
  """
  def put(leaf):
    if not hasattr(leaf, 'shape') or not hasattr(leaf, 'dtype'):
      return leaf
    if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(
        leaf.dtype, jax.dtypes.prng_key):
      raise TypeError('place() takes key data (jax.random.key_data), not '
                      'typed PRNG keys')
    host = np.asarray(leaf)
    return jax.make_array_from_callback(host.shape, sharding,
                                        lambda index: host[index])
  return jax.tree_util.tree_map(put, tree)


def constrain(tree: Any, sharding: NamedSharding) -> Any:
  """`with_sharding_constraint` on every array leaf (inside jit)."""
  return jax.tree_util.tree_map(
      lambda a: jax.lax.with_sharding_constraint(a, sharding), tree)


def batch_hook(mesh: Mesh, augment: Callable | None = None) -> Callable:
  """An `augment(key, x_batch)` hook that also splits the batch over 'data'.

  train.train_pathways applies `augment` to every training minibatch on
  device, the one place a per-batch constraint can reach without touching
  the training code. Under the 'parallel' vmap the pathway dimension is left
  unconstrained (JAX's batching rule) and follows the sharded slots.
  """
  sharding = batch_sharding(mesh)

  def hook(key, xb):
    if augment is not None:
      xb = augment(key, xb)
    return jax.lax.with_sharding_constraint(xb, sharding)
  return hook


def shard_training(mesh: Mesh, indices, weights, path_keys,
                   augment: Callable | None = None):
  """Sharding hints for one `train.train_pathways` call (inside jit).

  Args:
    indices, weights: [P, L, K] slots; path_keys: [P] PRNG keys.
    augment: the run's batch augmentation or None.

  Returns:
    (indices, weights, path_keys, augment) to pass on: the per-pathway
    inputs split over 'pathways' (every per-pathway array derived from them
    follows) and an augment hook that splits minibatch rows over 'data'.
  """
  indices, weights, path_keys = constrain((indices, weights, path_keys),
                                          pathway_sharding(mesh))
  return indices, weights, path_keys, batch_hook(mesh, augment)


def describe(mesh: Mesh | None) -> str:
  if mesh is None:
    return f'unsharded on {jax.devices()[0].device_kind}'
  return (f"mesh pathways={mesh.shape[PATHWAYS]} x data={mesh.shape[DATA]} "
          f'on {mesh.size} {mesh.devices.flat[0].device_kind} device(s), '
          f'{jax.process_count()} process(es)')


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
  value = environ.get(name, '')
  if not value:
    return None
  try:
    return int(value)
  except ValueError:
    raise ValueError(f'{name}={value!r} is not an integer') from None


def distributed_args(coordinator_address: str | None = None,
                     num_processes: int | None = None,
                     process_id: int | None = None,
                     environ: Mapping[str, str] | None = None
                     ) -> dict[str, Any] | None:
  """The `jax.distributed.initialize` arguments flags or env ask for, or None.

  Flags win over JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES /
  JAX_PROCESS_ID. Nothing given, or a single process: None (run locally).
  """
  env = os.environ if environ is None else environ
  args = {
      'coordinator_address': coordinator_address or env.get(ENV_COORDINATOR)
                             or None,
      'num_processes': (num_processes if num_processes is not None
                        else _env_int(env, ENV_NUM_PROCESSES)),
      'process_id': (process_id if process_id is not None
                     else _env_int(env, ENV_PROCESS_ID)),
  }
  if args['coordinator_address'] is None and args['num_processes'] is None:
    return None
  if args['num_processes'] == 1:
    return None
  missing = [k for k, v in args.items() if v is None]
  if missing:
    raise ValueError(f'multi-process launch needs {", ".join(missing)} too '
                     f'(flags or {ENV_COORDINATOR}, {ENV_NUM_PROCESSES}, '
                     f'{ENV_PROCESS_ID})')
  return args


def maybe_initialize_distributed(coordinator_address: str | None = None,
                                 num_processes: int | None = None,
                                 process_id: int | None = None, *,
                                 auto: bool = False,
                                 environ: Mapping[str, str] | None = None
                                 ) -> bool:
  """`jax.distributed.initialize()` when a multi-process launch is asked for.

  Call before any other JAX call. `auto=True` lets JAX detect the cluster
  itself (Cloud TPU pod slices, SLURM, Open MPI). Returns True when this
  process is (now) part of a multi-process run.
  """
  if jax.distributed.is_initialized():
    return True
  args = distributed_args(coordinator_address, num_processes, process_id,
                          environ)
  if args is None and not auto:
    return False
  jax.distributed.initialize(**(args or {}))
  return True
