"""Orbax save/restore of the whole evolution state, keyed by generation.

A checkpoint that cannot be restored (corrupt data file, truncated manifest or
metadata, a save that never committed) is moved aside, not deleted, and the
next older one is tried, so a damaged disk costs generations, not the run.
"""
from __future__ import annotations

import contextlib
import errno
import logging as std_logging
import os
import re
import sys

from absl import logging
import jax
from jax.experimental import multihost_utils
import orbax.checkpoint as ocp

# Orbax writes this file last, just before it renames the finished step
# directory into place; a step directory without it never finished saving.
COMMIT_MARKER = 'commit_success.txt'
CORRUPT_SUFFIX = '.corrupt'
# TensorStore reports a full disk as RESOURCE_EXHAUSTED text, not an OSError.
_NO_SPACE = re.compile(r"No space left on device|os_error_code='?28'?")


def reports_no_space(exc: BaseException | None) -> bool:
  """True when `exc`, or one it was raised from, says the disk is full."""
  seen = set()
  while exc is not None and id(exc) not in seen:
    seen.add(id(exc))
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
      return True
    if _NO_SPACE.search(str(exc)):
      return True
    exc = exc.__cause__ or exc.__context__
  return False


class _DropOrbaxErrors(std_logging.Filter):
  """Orbax logs each failed write thread's traceback at ERROR before the
  save raises; the raised error says it once (and clearly, see `_writing`)."""

  def filter(self, record):
    return not (record.levelno >= std_logging.ERROR and
                'orbax' in record.pathname)


@contextlib.contextmanager
def _writing(directory: str):
  """Saves under `directory`: a full disk becomes one OSError(ENOSPC) that
  names it, without orbax's per-thread tracebacks in the log."""
  quiet = _DropOrbaxErrors()
  logger = std_logging.getLogger('absl')
  logger.addFilter(quiet)
  try:
    yield
  except Exception as e:  # pylint: disable=broad-except
    if reports_no_space(e):
      raise OSError(errno.ENOSPC, 'no space left on device',
                    str(directory)) from e
    raise
  finally:
    logger.removeFilter(quiet)


@contextlib.contextmanager
def saving(directory: str, max_to_keep: int = 2):
  """An asynchronous CheckpointManager for the block: a save returns once
  the state is copied off the device and writes while the run goes on (the
  next save, or the block's end, waits for it). A kill mid-write leaves an
  uncommitted step that restore_latest skips. The block's errors, and the
  background writes', come out as `save` says (a full disk: one OSError)."""
  with _writing(os.path.abspath(directory)):
    mngr = manager(directory, max_to_keep, asynchronous=True)
    try:
      yield mngr
      mngr.wait_until_finished()
    finally:
      mngr.close()


def manager(directory: str, max_to_keep: int = 2,
            asynchronous: bool = False) -> ocp.CheckpointManager:
  """A CheckpointManager over `directory` (created if missing).

  `asynchronous`: a save returns once the state is copied off the device
  and writes in the background while the run goes on (the next save, or
  `finish`, waits for it); a kill mid-write leaves an uncommitted step that
  restore_latest skips.
  """
  directory = os.path.abspath(directory)
  os.makedirs(directory, exist_ok=True)
  return ocp.CheckpointManager(
      directory, options=ocp.CheckpointManagerOptions(
          max_to_keep=max_to_keep, create=True,
          enable_async_checkpointing=asynchronous))


def save(mngr: ocp.CheckpointManager, step: int, state,
         wait: bool = True) -> None:
  """Save a pytree at `step`; with `wait`, block until it is on disk, so a
  kill right after loses nothing.

  Raises:
    OSError(ENOSPC) naming the checkpoint directory when the disk is full
    (for an asynchronous save: at the next save or at `finish`).
  """
  with _writing(str(mngr.directory)):
    mngr.save(step, args=ocp.args.StandardSave(state), force=True)
    if wait:
      mngr.wait_until_finished()


def save_pytree(path: str, tree) -> None:
  """One pytree (e.g. trained parameters) to `path`, replacing it; a full
  disk raises OSError(ENOSPC) naming `path`."""
  path = os.path.abspath(path)
  with _writing(path), ocp.StandardCheckpointer() as ckptr:
    ckptr.save(path, tree, force=True)


def aside_path(step_dir: str) -> str:
  """`<step>.corrupt`, or `<step>.corrupt-k` when that name is taken.

  Orbax lists only integer names as steps, so the moved directory is kept for
  inspection but never restored or pruned.
  """
  path = step_dir + CORRUPT_SUFFIX
  k = 1
  while os.path.exists(path):
    path, k = f'{step_dir}{CORRUPT_SUFFIX}-{k}', k + 1
  return path


@contextlib.contextmanager
def _quiet_closed_event_loop():
  """Silences one known echo of a failed restore.

  Orbax reads through asyncio; when one TensorStore read fails, the loop
  closes while the other reads still call back into it, and each prints a
  RuntimeError('Event loop is closed') traceback that adds nothing to the
  warning logged for the checkpoint. Those echoes can come after the restore
  has raised, so after a failure the filter stays for the rest of the process.
  """
  previous = sys.unraisablehook

  def hook(unraisable):
    if not (isinstance(unraisable.exc_value, RuntimeError) and
            'Event loop is closed' in str(unraisable.exc_value)):
      previous(unraisable)

  sys.unraisablehook = hook
  yield  # an exception propagates from here and leaves the filter in place
  sys.unraisablehook = previous


def _restore(mngr: ocp.CheckpointManager, step: int, abstract):
  step_dir = os.path.join(str(mngr.directory), str(step))
  if not os.path.exists(os.path.join(step_dir, COMMIT_MARKER)):
    raise ValueError(f'no {COMMIT_MARKER}: its save never finished')
  with _quiet_closed_event_loop():
    return mngr.restore(step, args=ocp.args.StandardRestore(abstract))


def _move_aside(mngr: ocp.CheckpointManager, step: int, error: Exception):
  step_dir = os.path.join(str(mngr.directory), str(step))
  reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
  reason = reason[:200] + ('...' if len(reason) > 200 else '')
  if jax.process_index() == 0:  # one shared directory: one process renames
    aside = aside_path(step_dir)
    os.rename(step_dir, aside)
    logging.warning('checkpoint %s cannot be restored (%s); moved it to %s '
                    'and trying an older one', step_dir, reason, aside)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(f'checkpoint {step} moved aside')


def restore_latest(mngr: ocp.CheckpointManager, target):
  """(step, state) from the newest checkpoint that restores, or (None, target).

  Unrestorable checkpoints are moved aside with a warning naming them; when
  none is left the run starts over from `target`, after saying so.
  """
  steps = sorted(mngr.all_steps(), reverse=True)
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, target)
  for i, step in enumerate(steps):
    try:
      state = _restore(mngr, step, abstract)
    except Exception as e:  # pylint: disable=broad-except
      # Orbax and TensorStore report damage as many exception types
      # (ValueError, JSONDecodeError, OSError, ...): any of them means this
      # step is unusable, and an older one may still be whole.
      _move_aside(mngr, step, e)
      continue
    if i:
      mngr.reload()  # forget the moved steps before saving new ones
    return step, state
  if steps:
    mngr.reload()
    logging.warning('no checkpoint in %s could be restored; starting over '
                    'from generation 0', mngr.directory)
  return None, target
