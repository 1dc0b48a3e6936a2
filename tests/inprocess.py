"""A binary run in the test's own process exactly as its command line runs
it (experiments/lib/cli.py `call`: the same flags, checks and `error:`
line), without starting an interpreter and JAX for each case."""
import contextlib
import io
import subprocess

from experiments.lib import cli


def run(binary, *args: str) -> subprocess.CompletedProcess:
  """`python -m experiments.<binary> args`: its exit code, stdout, stderr."""
  argv = [binary.__name__, *args]
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = cli.call(binary.main, binary.define_flags, argv)
  return subprocess.CompletedProcess(argv, code, out.getvalue(),
                                     err.getvalue())
