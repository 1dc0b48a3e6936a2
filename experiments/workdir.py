"""A workdir belongs to one run at a time, and its files are whole or absent.

Two runs on one workdir delete each other's unfinished checkpoints and race
on every output; a run killed mid-write would leave a half-written file that
the next run trusts. `exclusive` and `write_atomically` prevent both.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from typing import Callable, Iterator

LOCK_NAME = 'run.lock'


class InUse(RuntimeError):
  """Another live process holds the workdir."""


@contextlib.contextmanager
def exclusive(workdir: str) -> Iterator[None]:
  """Holds an exclusive lock on `workdir/run.lock` while the block runs.

  fcntl locks die with their process, so the lock of a killed run is simply
  taken over. The file records the holder's PID for a second run's message;
  that second run writes nothing (it opens the file without truncating).

  Raises:
    InUse: another live process holds the lock.
  """
  os.makedirs(workdir, exist_ok=True)
  fd = os.open(os.path.join(workdir, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(fd, 32, 0).decode(errors='replace').strip()
      raise InUse(f'workdir {workdir!r} is in use by process '
                  f'{holder or "(unknown)"}') from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
    yield
  finally:
    os.close(fd)  # releases the lock


def write_atomically(path: str, write: Callable[[str], None]) -> None:
  """`write(tmp)` then rename onto `path`: readers see all of it or nothing.

  The temporary name keeps the extension (`results.tmp.json`), since some
  writers (matplotlib, numpy) choose the format from it.

  A failed write leaves `path` as it was and removes the temporary file; a
  full disk raises OSError(ENOSPC) that names `path`.
  """
  stem, ext = os.path.splitext(path)
  tmp = f'{stem}.tmp{ext}'
  try:
    write(tmp)
    os.replace(tmp, path)
  except BaseException as e:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
      raise OSError(errno.ENOSPC, 'no space left on device', path) from e
    raise
