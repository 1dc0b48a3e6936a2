"""The extraction worker pool: an ordered, lazy map in this process or over
spawn-started processes, workers that end with their parent (the orphan
guard), and single-threaded numeric libraries for the duration.

The pool keeps a bounded number of chunks in flight, so the results waiting
for their turn (one file's rows each) never grow with the number of files.
"""
from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import cv2
import threadpoolctl

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@contextlib.contextmanager
def single_threaded():
  """BLAS and OpenCV on one thread for the duration (restored afterwards).

  Per-file work is small (a 64×257 mel matrix product, one Haar pass), so
  library threads only contend with the other workers and with whatever
  else runs: on a busy 2-core machine that made extraction ~4× slower.
  """
  cv_threads = cv2.getNumThreads()
  cv2.setNumThreads(1)
  try:
    with threadpoolctl.threadpool_limits(limits=1):
      yield
  finally:
    cv2.setNumThreads(cv_threads)


def init_worker(parent_pid: int) -> None:
  """Process-pool initializer: the worker ends with its parent, and runs
  single-threaded libraries for its life."""
  end_with_parent(parent_pid)
  cv2.setNumThreads(1)
  threadpoolctl.threadpool_limits(limits=1)


def end_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
  """Ends this worker when `parent_pid` dies, even by SIGKILL.

  A killed parent cannot shut its pool down, and the workers (blocked on
  their task queue) would live on as orphans, keeping multiprocessing's
  resource tracker alive with them. Linux: the kernel sends SIGKILL when the
  parent dies (prctl PR_SET_PDEATHSIG). Elsewhere, a daemon thread polls the
  parent id (re-parenting changes it) every `poll_s` seconds.
  """
  try:
    import ctypes  # pylint: disable=g-import-not-at-top
    libc = ctypes.CDLL(None, use_errno=True)
    linux = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
  except (OSError, AttributeError):  # not Linux
    linux = False
  if os.getppid() != parent_pid:  # died before the signal was armed
    os._exit(1)  # pylint: disable=protected-access
  if linux:
    return

  def watch():
    while os.getppid() == parent_pid:
      time.sleep(poll_s)
    os._exit(1)  # pylint: disable=protected-access

  threading.Thread(target=watch, daemon=True, name='end-with-parent').start()


@contextlib.contextmanager
def mapper(workers: int, n_tasks: int):
  """An ordered, lazy map: in-process, or over a spawn-started process pool
  with at most 2·workers chunks submitted and not yet consumed.

  spawn, not fork: callers may have JAX (multithreaded) loaded.
  """
  if workers <= 1 or n_tasks <= 1:
    with single_threaded():
      yield map
    return
  workers = min(workers, n_tasks)
  chunksize = max(1, min(8, n_tasks // (4 * workers)))
  ctx = multiprocessing.get_context('spawn')
  with cf.ProcessPoolExecutor(workers, mp_context=ctx,
                              initializer=init_worker,
                              initargs=(os.getpid(),)) as ex:
    try:
      yield lambda fn, tasks: bounded_map(ex, fn, tasks, chunksize,
                                          ahead=2 * workers)
    except BaseException:
      ex.shutdown(wait=False, cancel_futures=True)
      raise


def bounded_map(ex: cf.Executor, fn: Callable[[Any], Any],
                tasks: Iterable[Any], chunksize: int, ahead: int
                ) -> Iterator[Any]:
  """fn over tasks in order, in chunks, with at most `ahead` chunks
  submitted and not yet yielded (Executor.map submits every task at once and
  keeps each finished result until its turn: memory growing with the
  corpus when one early file is slow)."""
  pending: collections.deque[cf.Future] = collections.deque()
  for chunk in _chunks(tasks, chunksize):
    pending.append(ex.submit(run_chunk, fn, chunk))
    if len(pending) >= ahead:
      yield from pending.popleft().result()
  while pending:
    yield from pending.popleft().result()


def run_chunk(fn: Callable[[Any], Any], chunk: Sequence[Any]) -> list[Any]:
  """Worker-side: fn over one chunk of tasks (module-level: picklable)."""
  return [fn(task) for task in chunk]


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
  chunk = []
  for item in items:
    chunk.append(item)
    if len(chunk) == size:
      yield chunk
      chunk = []
  if chunk:
    yield chunk
