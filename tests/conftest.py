"""Settings for the whole test session.

On GPUs and TPUs JAX runs float32 matrix products with reduced-precision
passes by default (TF32 on NVIDIA Ampere and later, bf16 on TPU: about 1e-3
relative error). The specs here compare against NumPy and full-tensor
references at float32 tolerances, so they ask for full float32 products.
On CPU this changes nothing.

One persistent compilation cache serves the session: the end-to-end tests
build their jitted functions afresh for each run (a new closure, so JAX's
in-memory cache misses) with the same shapes, so a later test loads the
program an earlier one compiled. Its settings go into os.environ too, so
that the binaries and scripts the tests start reuse it. A cache the
environment already names (JAX_COMPILATION_CACHE_DIR) is used as it is and
kept; otherwise it is a fresh folder, removed when the session ends.
"""
import os
import shutil
import tempfile

import jax

CACHE_ENV = 'JAX_COMPILATION_CACHE_DIR'
# Every program, however small or quick to compile (JAX's defaults keep only
# those that took a second or more).
CACHE_SETTINGS = {'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0',
                  'JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES': '-1'}

jax.config.update('jax_default_matmul_precision', 'highest')

_OWN_CACHE = None if os.environ.get(CACHE_ENV) else tempfile.mkdtemp(
    prefix='pathnet-jax-tests-xla-')
if _OWN_CACHE:
  os.environ[CACHE_ENV] = _OWN_CACHE
for _name, _value in CACHE_SETTINGS.items():
  os.environ.setdefault(_name, _value)
for _name, _parse in (('jax_compilation_cache_dir', str),
                      ('jax_persistent_cache_min_compile_time_secs', float),
                      ('jax_persistent_cache_min_entry_size_bytes', int)):
  jax.config.update(_name, _parse(os.environ[_name.upper()]))
# JAX opens the cache at its first compile and keeps that folder: compile
# now, before a test runs a binary in this process that names its own.
jax.jit(lambda x: x + 1)(0)


def pytest_unconfigure(config):
  del config
  if _OWN_CACHE and os.environ.get(CACHE_ENV) == _OWN_CACHE:
    shutil.rmtree(_OWN_CACHE, ignore_errors=True)
