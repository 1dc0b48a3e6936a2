"""Meshes, shardings and the sharded generation.

The multi-device checks need 8 CPU devices, which must be requested before
JAX starts: they run once in a subprocess (this file, run as a script with
XLA_FLAGS=--xla_force_host_platform_device_count=8) that prints JSON.
"""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from pathnet_jax import evolve, parallel
from pathnet_jax import generation as gen_lib
import tinyconfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, 'tests')


@pytest.mark.parametrize('devices, pathways, shape', [
    (8, 2, (2, 4)), (8, 20, (4, 2)), (8, 1, (1, 8)), (1, 20, (1, 1)),
    (4, 64, (4, 1))])
def test_mesh_shape_splits_pathways_first_then_batches(devices, pathways,
                                                       shape):
  assert parallel.mesh_shape(devices, pathways) == shape


def test_config_without_parallel_section_means_no_mesh():
  assert parallel.mesh_from_config(tinyconfig.tiny_config()) is None


def test_config_mesh_auto_has_explicit_auto_axes():
  cfg = tinyconfig.tiny_config(train_mode='parallel')
  cfg.parallel = {'mesh': 'auto', 'num_devices': 0}
  mesh = parallel.mesh_from_config(cfg)
  assert mesh.axis_names == (parallel.PATHWAYS, parallel.DATA)
  assert mesh.axis_types == (jax.sharding.AxisType.Auto,) * 2


def test_distributed_args_from_env_and_flags():
  env = {'JAX_COORDINATOR_ADDRESS': 'host0:1234', 'JAX_NUM_PROCESSES': '4',
         'JAX_PROCESS_ID': '2'}
  assert parallel.distributed_args(environ=env) == {
      'coordinator_address': 'host0:1234', 'num_processes': 4,
      'process_id': 2}
  assert parallel.distributed_args(process_id=3, environ=env)[
      'process_id'] == 3
  assert parallel.distributed_args(environ={}) is None
  assert parallel.distributed_args(environ={'JAX_NUM_PROCESSES': '1'}) is None
  with pytest.raises(ValueError, match='process_id'):
    parallel.distributed_args('host0:1234', 2, environ={})


def test_no_launch_variables_means_no_distributed_init():
  assert not parallel.maybe_initialize_distributed(environ={})
  assert not jax.distributed.is_initialized()


# --------------------------------------------------------------------------
# 8 fake devices, in a subprocess


def _compare(a, b):
  leaves = zip(jax.tree_util.tree_leaves(a.params),
               jax.tree_util.tree_leaves(b.params))
  return {
      'genotypes_equal': bool(np.array_equal(a.state.ga.genotypes,
                                             b.state.ga.genotypes)),
      'best_fitness': [a.history['best_fitness'].tolist(),
                       b.history['best_fitness'].tolist()],
      'params_max_abs_diff': max(float(np.max(np.abs(np.asarray(u) -
                                                     np.asarray(v))))
                                 for u, v in leaves),
      'params_replicated': all(
          l.sharding.is_fully_replicated and len(l.sharding.device_set) == 8
          for l in jax.tree_util.tree_leaves(b.params)),
  }


def _worker() -> dict:
  """Sharded vs unsharded evolutions on 8 devices; one executable; HLO."""
  from pathnet_jax import model, train  # pylint: disable=g-import-not-at-top
  assert jax.device_count() == 8, jax.devices()
  x, y = tinyconfig.blobs(n=64, num_classes=3)
  out = {}
  for name, mode, tournaments in [('parallel', 'parallel', 2),
                                  ('sequential', 'sequential', 1)]:
    cfg = tinyconfig.tiny_config(generations=2, train_mode=mode,
                                 tournaments_per_generation=tournaments)
    mesh = parallel.make_mesh(parallel.parallel_pathways(cfg))
    plain = evolve.evolve(jax.random.key(0), cfg, x, y)
    sharded = evolve.evolve(jax.random.key(0), cfg, x, y, mesh=mesh)
    out[name] = {'mesh': list(mesh.devices.shape), **_compare(plain, sharded)}

  cfg = tinyconfig.tiny_config(train_mode='parallel',
                               tournaments_per_generation=2)
  mesh = parallel.make_mesh(4)
  params = model.init(jax.random.key(0), cfg, 48, 3)
  tx = train.make_optimizer(cfg)
  state = gen_lib.init_state(jax.random.key(1), cfg, params, tx)
  fn, _ = gen_lib.make_generation_fn(cfg, tx, 64, mesh=mesh)
  state, x_d, y_d, frozen = parallel.place(
      (state, x, y, np.zeros((2, 6), bool)), parallel.replicated(mesh))
  # Compiled ahead of time: a later call whose inputs are sharded otherwise
  # (e.g. the state it returned) raises instead of silently recompiling.
  compiled = fn.lower(state, x_d, y_d, x_d, y_d, frozen, None, None).compile()
  for _ in range(3):
    state, _ = compiled(state, x_d, y_d, x_d, y_d, frozen, None, None)
  out['state_fed_back_3_times'] = True
  out['hlo_all_reduce'] = compiled.as_text().count('all-reduce')
  return out


@pytest.fixture(scope='module')
def eight_devices():
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             XLA_FLAGS='--xla_force_host_platform_device_count=8',
             PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
  proc = subprocess.run([sys.executable, os.path.abspath(__file__)],
                        env=env, cwd=ROOT, capture_output=True, text=True,
                        timeout=tinyconfig.HANG_GUARD_S, check=False)
  assert proc.returncode == 0, proc.stderr[-4000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_pathway_sharded_parallel_mode_matches_unsharded(eight_devices):
  r = eight_devices['parallel']
  assert r['mesh'] == [4, 2]  # 4 pathways, each pathway's batch over 2
  assert r['genotypes_equal']
  assert r['params_max_abs_diff'] < 1e-5
  assert r['best_fitness'][0] == pytest.approx(r['best_fitness'][1])


def test_batch_sharded_sequential_mode_matches_unsharded(eight_devices):
  r = eight_devices['sequential']
  assert r['mesh'] == [1, 8]  # the paper's order: only batches split
  assert r['genotypes_equal']
  assert r['params_max_abs_diff'] < 1e-5


def test_sharded_state_comes_back_replicated(eight_devices):
  assert eight_devices['parallel']['params_replicated']
  assert eight_devices['sequential']['params_replicated']


def test_sharded_generation_takes_back_its_own_state(eight_devices):
  # One compiled executable runs generation after generation.
  assert eight_devices['state_fed_back_3_times']


def test_sharded_generation_really_splits_the_work(eight_devices):
  # A replicated program needs no collective; a split one sums gradients.
  assert eight_devices['hlo_all_reduce'] > 0


if __name__ == '__main__':
  print(json.dumps(_worker()))
