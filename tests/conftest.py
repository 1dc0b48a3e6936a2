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

Quick compiles: two thirds of the suite's time was XLA compiling tiny
programs (LLVM's optimisation passes and the fusion emitters), which the
specs do not need; `FAST_COMPILE_FLAGS` halve a tiny evolution's compile
(9.0 s -> 2.9 s for 35 programs). The programs then round differently from
the default build, so a spec compares runs made under the same flags (the
binaries the tests start inherit them), never against figures of a default
build. PATHNET_TESTS_DEFAULT_COMPILE=1 keeps XLA's defaults: .ci/run runs the
marked set that way, so the default build is tested too. The flags are
probed in a child process first, as an XLA that no longer knows a flag
aborts.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

FAST_COMPILE_FLAGS = ('--xla_backend_optimization_level=0',
                      '--xla_cpu_use_fusion_emitters=false')


def _fast_compile_flags() -> str:
  """XLA_FLAGS with FAST_COMPILE_FLAGS added, or as they are when asked or
  when this XLA refuses them."""
  flags = os.environ.get('XLA_FLAGS', '')
  if (os.environ.get('PATHNET_TESTS_DEFAULT_COMPILE') == '1'
      or all(f in flags.split() for f in FAST_COMPILE_FLAGS)):
    return flags  # asked, or already set (and probed) by xdist's controller
  wanted = ' '.join([flags, *FAST_COMPILE_FLAGS]).strip()
  probe = subprocess.run(
      [sys.executable, '-c', 'import jax; jax.jit(lambda x: x + 1)(0)'],
      env={**os.environ, 'XLA_FLAGS': wanted, 'JAX_PLATFORMS': 'cpu'},
      capture_output=True, check=False)
  return wanted if probe.returncode == 0 else flags


# Before JAX starts its backend (the import below does not; the first
# compile does).
os.environ['XLA_FLAGS'] = _fast_compile_flags()

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position

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


# Long tests whose behaviour a cheaper test of the default run also covers
# (another parametrisation, a smaller relative, the same property through
# another entry point): they join the `slow` set, which .ci/run runs after
# the default one. Seconds: one run with `-n 2 --durations=0` on the idle
# 2-core machine.
SLOW_DUPLICATES = {
    'test_notebook.py::test_per_fold_table_shows_the_runs_scores_and_a_speed',  # 64: the Colab notebook end to end
    'test_benchmark.py::test_throughput_covers_every_case_and_compute',  # 45
    'test_readme_tables.py::test_blocks_setting_rewrites_only_the_named_block',  # 44
    'test_runs.py::test_vmapped_runs_equal_the_runs_alone_up_to_rounding',  # 37
    'test_runs.py::test_transfer_runs_with_different_frozen_modules_equal_alone',  # 30
    'test_runs.py::test_each_run_of_a_batch_equals_the_run_alone[parallel]',  # 28
    'test_runs.py::test_validation_fitness_rows_of_different_counts_equal_alone',  # 22
    'test_runs.py::test_killed_batch_resumes_to_the_results_of_an_uninterrupted_one',  # 19
    'test_heldout_fitness.py::test_a_transfer_protocol_with_heldout_speakers_end_to_end',  # 27
    'test_heldout_fitness.py::test_patience_stops_a_stalled_run_and_the_others_go_on[vmap]',  # 19
    'test_generalisation.py::test_ablation_runs_end_to_end_on_the_synthetic_corpus',  # 20
    'test_evolve.py::test_transfer_keeps_frozen_modules_bit_identical[adamw]',  # 20
    'test_cross_corpus.py::test_finetune_keeps_the_same_fraction_of_utterances',  # 18
    'test_reliability.py::test_corrupt_newest_checkpoint_resumes_from_previous_with_same_results',  # 19
    'test_views.py::test_a_view_trains_scores_and_predicts_as_evaluation_does[functionals:eGeMAPSv02]',  # 13
}


# Whole programs run end to end in a child process, each read by the tests
# that take its fixture: also `slow` (seconds, one idle run). Their parts
# are specified in the default set in this process (the notebook's cells
# call the binaries train and predict test; the benchmark items have their
# own tests; sharding's mesh and arguments are tested without devices).
SLOW_FIXTURES = {
    'executed',  # 42: the Colab notebook, in a Jupyter kernel
    'eight_devices',  # 27: sharded generations on 8 host devices
    'quick_run',  # 22: `python -m experiments.benchmark --quick`, 2 devices
}
SLOW_DUPLICATES.add(
    # 30: experiments/readme_tables.sh on runs of every block (some 20
    # Python starts); test_without_a_runs_folder_it_refuses_in_one_line runs
    # the script in the default set.
    'test_readme_tables.py::test_it_rewrites_only_the_blocks_that_have_runs')


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
  del config
  for item in items:
    if (item.nodeid.split('/')[-1] in SLOW_DUPLICATES
        or SLOW_FIXTURES & set(getattr(item, 'fixturenames', ()))):
      item.add_marker(pytest.mark.slow)
