"""Orbax save/restore of the whole evolution state, keyed by generation."""
from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


def manager(directory: str, max_to_keep: int = 2) -> ocp.CheckpointManager:
  """A CheckpointManager over `directory` (created if missing)."""
  directory = os.path.abspath(directory)
  os.makedirs(directory, exist_ok=True)
  return ocp.CheckpointManager(
      directory, options=ocp.CheckpointManagerOptions(
          max_to_keep=max_to_keep, create=True))


def save(mngr: ocp.CheckpointManager, step: int, state) -> None:
  """Save a pytree at `step` and wait, so a kill right after loses nothing."""
  mngr.save(step, args=ocp.args.StandardSave(state), force=True)
  mngr.wait_until_finished()


def restore_latest(mngr: ocp.CheckpointManager, target):
  """(step, state restored into `target`'s structure), or (None, target)."""
  step = mngr.latest_step()
  if step is None:
    return None, target
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, target)
  state = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
  return step, state
