"""The edge of every binary: a user's mistake (a bad or missing flag too) or
a full disk ends in one `error: ...` line on stderr and exit code 1, never
in a traceback.

    if __name__ == '__main__':
      cli.run(main, define_flags)   # instead of define_flags(); app.run(main)

A binary's `define_flags(flag_values=flags.FLAGS, argv=None)` and
`main(argv, flag_values=flags.FLAGS)` take the flags they use, so that
`call(main, define_flags, argv)` runs it in this process on flags of its own
(tests: the same error path without starting an interpreter).

Bugs (any other exception) still raise with their traceback: hiding them
would lose what a maintainer needs. Light to import (the JAX and data
modules load only when an error is reported), so small binaries stay fast.
"""
from __future__ import annotations

import functools
import os
import re
import sys
from typing import Callable, Sequence

from absl import app
from absl import flags

from experiments.lib import workdir as workdir_lib

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
# ml_collections' hint for a misspelt field.
_SUGGESTION = re.compile(r'Did you mean "([^"]+)"')


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


def flag_error_line(exc: flags.Error) -> str:
  """absl's message for a bad or missing flag, on one line."""
  text = ' '.join(l.strip() for l in str(exc).splitlines() if l.strip())
  return f'{text or type(exc).__name__} (--helpshort lists the flags)'


def unknown_override_line(exc: BaseException, argv: Sequence[str]
                          ) -> str | None:
  """The line for ml_collections' KeyError/AttributeError on a
  `--config.<field>=` override naming a field the config lacks: the override
  holding the missing key, up to it ('optim.nope'), and ml_collections'
  suggestion when it has one. None for other errors."""
  if not isinstance(exc, (AttributeError, KeyError)):
    return None
  while exc.args and isinstance(exc.args[0], BaseException):  # wrapped
    exc = exc.args[0]
  # "'learnin_rate'\nDid you mean \"learning_rate\" instead of ...?"
  text = str(exc.args[0]) if exc.args else ''
  key = text.splitlines()[0].strip('\'" ') if text else ''
  suggestion = _SUGGESTION.search(text)
  for arg in argv:
    if arg.startswith('--config.'):
      parts = arg[len('--config.'):].split('=', 1)[0].split('.')
      if key in parts:
        parts = parts[:parts.index(key) + 1]
        hint = ''
        if suggestion:
          hint = f"; did you mean '{'.'.join(parts[:-1] + [suggestion[1]])}'?"
        return f"unknown config field '{'.'.join(parts)}'{hint}"
  return None


def _exit_on_flag_error(exc: BaseException, argv: Sequence[str]) -> None:
  """Exits with one line for a user's error in the flags; re-raises bugs."""
  if isinstance(exc, flags.Error):  # absl: 'FATAL Flags parsing error'
    line = flag_error_line(exc)
  else:
    line = unknown_override_line(exc, argv) or error_line(exc)
  if line is None:
    raise exc
  print(f'error: {line}', file=sys.stderr, flush=True)
  sys.exit(1)


def run(main: Callable, define_flags: Callable[[], None] | None = None
        ) -> None:
  """absl's app.run(main), with user errors as one line while the flags are
  defined (ml_collections reads `--config.<field>=` overrides there when the
  config flag has a default) and parsed (where a `--config.field=` override
  loads the config file), and inside main."""
  if define_flags is not None:
    try:
      define_flags()
    except Exception as e:  # pylint: disable=broad-except
      _exit_on_flag_error(e, sys.argv)

  def parse(argv):
    try:
      return flags.FLAGS(argv)
    except Exception as e:  # pylint: disable=broad-except
      _exit_on_flag_error(e, argv)
  app.run(exits_on_error(main), flags_parser=parse)


def use_compilation_cache(cache_dir: str) -> str:
  """JAX's persistent compilation cache in `<cache_dir>/xla`: a rerun, or
  another protocol with the same shapes, loads its programs instead of
  compiling them (seconds per program on CPU). Returns the folder."""
  import jax  # pylint: disable=g-import-not-at-top
  path = os.path.abspath(os.path.join(cache_dir, 'xla'))
  jax.config.update('jax_compilation_cache_dir', path)
  # Small programs compile faster than the cache reads them back.
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5)
  return path
