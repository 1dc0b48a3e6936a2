"""Two local JAX processes (one CPU device each, gloo collectives) evolve
together over one 2-device mesh and must agree on the GA state.

Each process runs this file as a script: initialise jax.distributed against
127.0.0.1, evolve a tiny config in 'parallel' mode (the two tournament
pathways land on different processes), save the final state to a file.
"""
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from pathnet_jax import evolve, parallel
import tinyconfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, 'tests')
TIMEOUT_S = 180


def _config():
  cfg = tinyconfig.tiny_config(generations=3, train_mode='parallel')
  return cfg


def _gloo_available() -> bool:
  try:
    from jax._src.lib import _jax  # pylint: disable=g-import-not-at-top
  except ImportError:
    return False
  return hasattr(_jax, 'make_gloo_tcp_collectives')


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _worker(process_id: int, port: int, out_path: str) -> None:
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  assert parallel.maybe_initialize_distributed(f'127.0.0.1:{port}', 2,
                                               process_id)
  assert jax.device_count() == 2 and jax.local_device_count() == 1
  x, y = tinyconfig.blobs(n=64, num_classes=3)
  cfg = _config()
  cfg.parallel = {'mesh': 'auto'}
  r = evolve.evolve(jax.random.key(0), cfg, x, y)
  ga = r.state.ga
  np.savez(out_path, genotypes=np.asarray(ga.genotypes),
           fitness=np.asarray(ga.fitness),
           best_genotype=np.asarray(ga.best_genotype),
           best_fitness=np.asarray(ga.best_fitness),
           w0=np.asarray(r.params['layers'][0]['w']),
           mesh=np.asarray(parallel.mesh_from_config(cfg).devices.shape))
  jax.distributed.shutdown()


@pytest.fixture(scope='module')
def two_processes(tmp_path_factory):
  if not _gloo_available():
    pytest.skip('this jaxlib has no gloo CPU collectives '
                '(make_gloo_tcp_collectives missing)')
  out = tmp_path_factory.mktemp('multihost')
  port = _free_port()
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
  env.pop('XLA_FLAGS', None)  # one device per process
  procs = [subprocess.Popen(
      [sys.executable, os.path.abspath(__file__), str(i), str(port),
       str(out / f'state_{i}.npz')], env=env, cwd=ROOT,
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for i in range(2)]
  logs = []
  try:
    for p in procs:
      logs.append(p.communicate(timeout=TIMEOUT_S)[0])
  except subprocess.TimeoutExpired:
    for p in procs:
      p.kill()
    pytest.fail(f'multi-process run took over {TIMEOUT_S}s')
  for p, log in zip(procs, logs):
    assert p.returncode == 0, log[-4000:]
  return [dict(np.load(out / f'state_{i}.npz')) for i in range(2)]


@pytest.mark.multiprocess
def test_two_processes_share_one_mesh(two_processes):
  for state in two_processes:
    np.testing.assert_array_equal(state['mesh'], [2, 1])


@pytest.mark.multiprocess
def test_two_processes_agree_on_the_ga_state(two_processes):
  a, b = two_processes
  for key in ('genotypes', 'fitness', 'best_genotype', 'best_fitness', 'w0'):
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.multiprocess
def test_two_processes_match_a_single_process_run(two_processes):
  x, y = tinyconfig.blobs(n=64, num_classes=3)
  r = evolve.evolve(jax.random.key(0), _config(), x, y)
  np.testing.assert_array_equal(two_processes[0]['genotypes'],
                                np.asarray(r.state.ga.genotypes))
  np.testing.assert_allclose(two_processes[0]['w0'],
                             np.asarray(r.params['layers'][0]['w']),
                             atol=1e-5)


if __name__ == '__main__':
  _worker(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
