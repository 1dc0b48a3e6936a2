"""The edge of every binary: a user's mistake or a full disk ends in one
`error: ...` line on stderr and exit code 1, never in a traceback.

    if __name__ == '__main__':
      cli.run(main)      # instead of absl's app.run(main)

Bugs (any other exception) still raise with their traceback: hiding them
would lose what a maintainer needs. Light to import (the JAX and data
modules load only when an error is reported), so small binaries stay fast.
"""
from __future__ import annotations

import functools
import re
import sys
from typing import Callable

from absl import app

from experiments import workdir as workdir_lib

# Mistakes a user can fix: bad settings, missing or unreadable inputs, a
# workdir held by another run (and data_prep's ExtractionError, see below).
USER_ERRORS = (ValueError, FileNotFoundError, PermissionError,
               IsADirectoryError, NotADirectoryError, workdir_lib.InUse)
# ml_collections defers a config file's load error to the first access of
# the flag's value and then raises OSError with these words.
_CONFIG_LOAD = ('Failed loading config file',
                'Configuration is not available because of an earlier failure')
# Where TensorStore names the file it failed to write.
_TENSORSTORE_PATH = re.compile(r'local file "([^"]+)"')


def _written_path(exc: BaseException) -> str | None:
  seen = set()
  while exc is not None and id(exc) not in seen:
    seen.add(id(exc))
    if isinstance(exc, OSError) and exc.filename:
      return str(exc.filename)
    match = _TENSORSTORE_PATH.search(str(exc))
    if match:
      return match.group(1)
    exc = exc.__cause__ or exc.__context__
  return None


def _first_line(exc: BaseException) -> str:
  text = str(exc).strip()
  return (text.splitlines() or [type(exc).__name__])[0]


def error_line(exc: BaseException) -> str | None:
  """The one-line message for an error a user can act on, None for a bug."""
  from data_prep import store  # pylint: disable=g-import-not-at-top
  from pathnet_jax import checkpoint as ckpt_lib  # pylint: disable=g-import-not-at-top
  if ckpt_lib.reports_no_space(exc):
    path = _written_path(exc)
    return ('no space left on device' + (f' writing {path}' if path else '')
            + '; free some space or use another --workdir/--out')
  text = str(exc)
  if isinstance(exc, OSError) and any(s in text for s in _CONFIG_LOAD):
    # "... Attempted [Relative path]:\n    experiments/configs/nope.py\n
    #  [Errno 2] No such file or directory: '...'"
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    reason = next((l for l in reversed(lines) if l.startswith('[Errno')),
                  lines[-1] if lines else 'unreadable')
    return f'cannot load the config file: {reason}'
  if isinstance(exc, USER_ERRORS + (store.ExtractionError,)):
    return _first_line(exc)
  return None


def exits_on_error(main: Callable) -> Callable:
  """Wraps a binary's main(argv): a user error prints `error: <line>` on
  stderr and exits 1; SystemExit and bugs pass through unchanged."""
  @functools.wraps(main)
  def guarded(*args, **kwargs):
    try:
      return main(*args, **kwargs)
    except Exception as e:  # pylint: disable=broad-except
      line = error_line(e)
      if line is None:
        raise
      print(f'error: {line}', file=sys.stderr, flush=True)
      sys.exit(1)
  return guarded


def fail(exc: BaseException) -> int:
  """In an `except` block of a function that returns an exit code: print
  the error line and return 1, or re-raise `exc` when it is a bug."""
  line = error_line(exc)
  if line is None:
    raise exc
  print(f'error: {line}', file=sys.stderr, flush=True)
  return 1


def run(main: Callable) -> None:
  """absl's app.run(main), with user errors as one line both while flags
  are parsed (a `--config.field=` override loads the config file there) and
  inside main."""
  def parse(argv):
    try:
      return app.parse_flags_with_usage(argv)
    except Exception as e:  # pylint: disable=broad-except
      sys.exit(fail(e))
  app.run(exits_on_error(main), flags_parser=parse)
