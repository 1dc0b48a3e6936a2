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
import time
from typing import Callable, Iterator

LOCK_NAME = 'run.lock'
# Guards a saved model folder: its writer holds it exclusively while it
# replaces the files, readers (predict) share it while they read them.
MODEL_LOCK_NAME = 'write.lock'


class InUse(RuntimeError):
  """Another live process holds the workdir."""


@contextlib.contextmanager
def exclusive(workdir: str, lock_name: str = LOCK_NAME,
              what: str = 'workdir') -> Iterator[None]:
  """Holds an exclusive lock on `workdir/<lock_name>` while the block runs
  (another lock name for outputs that share a folder, e.g. one per JSON).

  fcntl locks die with their process, so the lock of a killed run is simply
  taken over. The file records the holder's PID for a second run's message;
  that second run writes nothing (it opens the file without truncating).

  Raises:
    InUse: another live process holds the lock.
  """
  os.makedirs(workdir, exist_ok=True)
  fd = os.open(os.path.join(workdir, lock_name), os.O_RDWR | os.O_CREAT,
               0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(fd, 32, 0).decode(errors='replace').strip()
      raise InUse(f'{what} {workdir!r} is in use by process '
                  f'{holder or "(unknown)"}') from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
    yield
  finally:
    os.close(fd)  # releases the lock


@contextlib.contextmanager
def locked(path: str, *, shared: bool, wait_s: float,
           poll_s: float = 0.1) -> Iterator[bool]:
  """Holds an flock on the file `path` (shared or exclusive) for the block,
  waiting up to `wait_s` for other holders; yields False instead when it
  is still held then. A reader opens the file read-only and only if it
  exists (folders written before these locks have none: yields True)."""
  if shared and not os.path.exists(path):
    yield True
    return
  flags = os.O_RDONLY if shared else os.O_RDWR | os.O_CREAT
  fd = os.open(path, flags, 0o644)
  mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
  try:
    deadline = time.monotonic() + wait_s
    while True:
      try:
        fcntl.flock(fd, mode)
        break
      except BlockingIOError:
        if time.monotonic() >= deadline:
          yield False
          return
        time.sleep(poll_s)
    yield True
  finally:
    os.close(fd)


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
