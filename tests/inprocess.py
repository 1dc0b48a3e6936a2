"""A binary's command line run in this process: what `python -m
experiments.<name> ARGS` does, without starting a Python that imports JAX
again. For tests of flags and `error:` lines; one subprocess smoke test per
binary checks the real program start.

The module runs as `__main__` (runpy), so its own `if __name__ ==
'__main__'` block defines and parses the flags exactly as on the command
line. Afterwards every flag it defined is removed and the flags are
unparsed, so the next binary (or the same one) can define them again; the
process-wide settings a binary may change (JAX's compilation cache, the
root logger) are put back.
"""
import contextlib
import dataclasses
import io
import logging
import runpy
import sys
from typing import Sequence
import warnings

# absl.app and absl.logging define their flags when first imported: here,
# so that they are not among the flags a run defines (and removes).
from absl import app  # pylint: disable=unused-import
from absl import flags
from absl import logging as absl_logging  # pylint: disable=unused-import
import jax

# JAX settings a binary may change for its own process (train.py's
# --compilation_cache): the test session keeps its own.
_JAX_SETTINGS = ('jax_compilation_cache_dir',
                 'jax_persistent_cache_min_compile_time_secs',
                 'jax_persistent_cache_min_entry_size_bytes')


@dataclasses.dataclass(frozen=True)
class Finished:
  """What the command line would have seen, as subprocess.run returns it."""
  returncode: int
  stdout: str
  stderr: str


def _exit_code(exit_: SystemExit) -> int:
  """As the interpreter ends on SystemExit: None is 0, an int itself,
  anything else (sys.exit('error: ...')) printed on stderr and 1."""
  if exit_.code is None:
    return 0
  if isinstance(exit_.code, int):
    return exit_.code
  print(exit_.code, file=sys.stderr)
  return 1


@contextlib.contextmanager
def _restored_process_state():
  known = set(flags.FLAGS)
  was_parsed = flags.FLAGS.is_parsed()
  argv = list(sys.argv)
  settings = {name: getattr(jax.config, name) for name in _JAX_SETTINGS}
  root = logging.getLogger()
  handlers, level = list(root.handlers), root.level
  try:
    yield
  finally:
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in set(flags.FLAGS) - known:
      delattr(flags.FLAGS, name)
    if not was_parsed:
      flags.FLAGS.unparse_flags()
    sys.argv[:] = argv
    for name, value in settings.items():
      jax.config.update(name, value)


def run_binary(name: str, args: Sequence[str]) -> Finished:
  """`python -m experiments.<name> *args` in this process: its exit code
  and what it printed. A bug (an exception that is not a user error) raises
  here, as it would end the program with a traceback."""
  out, err = io.StringIO(), io.StringIO()
  code = 0
  with _restored_process_state():
    sys.argv[:] = [f'experiments/{name}.py', *args]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      try:
        with warnings.catch_warnings():
          # The test imported the module already: runpy runs it afresh.
          warnings.filterwarnings(
              'ignore', '.* found in sys.modules after import', RuntimeWarning)
          # ml_collections loads a --config file so (a Python 3.12 notice).
          warnings.filterwarnings('ignore', 'the load_module',
                                  DeprecationWarning)
          runpy.run_module(f'experiments.{name}', run_name='__main__',
                           alter_sys=True)
      except SystemExit as e:
        code = _exit_code(e)
  return Finished(code, out.getvalue(), err.getvalue())
