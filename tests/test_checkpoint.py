"""A checkpoint that cannot be restored is moved aside and the next older one
is used; with none left the run starts over after saying so."""
import glob
import logging
import os
import shutil

import jax
import numpy as np
import pytest

from pathnet_jax import checkpoint
from pathnet_jax import evolve
import tinyconfig


def _state(seed):
  x, y = tinyconfig.blobs(n=32)
  cfg = tinyconfig.tiny_config(generations=2)
  return evolve.evolve(jax.random.key(seed), cfg, x, y).state


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
  """Checkpoints at steps 2 and 4 holding two different states."""
  directory = str(tmp_path_factory.mktemp('ckpt'))
  states = {2: _state(0), 4: _state(1)}
  mngr = checkpoint.manager(directory)
  for step, state in states.items():
    checkpoint.save(mngr, step, state)
  mngr.close()
  return directory, states


def _overwrite_data_files(step_dir):
  for path in glob.glob(f'{step_dir}/**/d/*', recursive=True):
    with open(path, 'wb') as f:
      f.write(np.random.default_rng(0).bytes(os.path.getsize(path)))


def _truncate(pattern):
  def damage(step_dir):
    paths = glob.glob(f'{step_dir}/**/{pattern}', recursive=True)
    assert paths, pattern
    for path in paths:
      with open(path, 'r+b') as f:
        f.truncate(5)
  return damage


def _remove_commit_marker(step_dir):
  for path in glob.glob(f'{step_dir}/**/{checkpoint.COMMIT_MARKER}',
                        recursive=True):
    os.remove(path)


def _empty(step_dir):
  shutil.rmtree(step_dir)
  os.makedirs(step_dir)


def _restore(directory, like):
  mngr = checkpoint.manager(directory)
  try:
    return checkpoint.restore_latest(mngr, like)
  finally:
    mngr.close()


def _assert_same(a, b):
  jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


@pytest.mark.parametrize('damage', [
    _overwrite_data_files, _truncate('manifest.ocdbt'), _truncate('_METADATA'),
    _remove_commit_marker, _empty,
], ids=['corrupt data file', 'truncated manifest', 'truncated metadata',
        'missing commit marker', 'empty step directory'])
def test_damaged_newest_checkpoint_falls_back_to_the_previous(
    saved, tmp_path, caplog, damage):
  source, states = saved
  directory = str(tmp_path / 'ckpt')
  shutil.copytree(source, directory)
  damage(os.path.join(directory, '4'))
  with caplog.at_level(logging.WARNING):
    step, state = _restore(directory, states[2])
  assert step == 2
  _assert_same(state, states[2])
  moved = os.path.join(directory, '4.corrupt')
  assert sorted(os.listdir(directory)) == ['2', '4.corrupt']
  assert any(os.path.join(directory, '4') in r.getMessage() and
             moved in r.getMessage() for r in caplog.records)


def test_undamaged_checkpoint_restores_the_newest(saved, tmp_path):
  source, states = saved
  shutil.copytree(source, tmp_path / 'ckpt')
  step, state = _restore(str(tmp_path / 'ckpt'), states[2])
  assert step == 4
  _assert_same(state, states[4])


def test_no_checkpoint_left_starts_over_after_saying_so(saved, tmp_path,
                                                        caplog):
  source, states = saved
  directory = str(tmp_path / 'ckpt')
  shutil.copytree(source, directory)
  for step in ('2', '4'):
    _remove_commit_marker(os.path.join(directory, step))
  with caplog.at_level(logging.WARNING):
    step, state = _restore(directory, states[4])
  assert step is None and state is states[4]
  assert 'starting over' in caplog.text
  assert sorted(os.listdir(directory)) == ['2.corrupt', '4.corrupt']


def test_empty_checkpoint_directory_starts_fresh_quietly(saved, tmp_path,
                                                         caplog):
  _, states = saved
  with caplog.at_level(logging.WARNING):
    step, state = _restore(str(tmp_path / 'none'), states[2])
  assert step is None and state is states[2]
  assert not caplog.records


def test_a_second_corrupt_copy_of_one_step_keeps_the_first(tmp_path):
  step_dir = str(tmp_path / '4')
  os.makedirs(step_dir + checkpoint.CORRUPT_SUFFIX)
  assert checkpoint.aside_path(step_dir) == step_dir + '.corrupt-1'


def test_run_resumed_after_fallback_matches_an_uninterrupted_one(tmp_path):
  x, y = tinyconfig.blobs(n=48)
  cfg = tinyconfig.tiny_config(generations=4, checkpoint_every=1)
  whole = evolve.evolve(jax.random.key(5), cfg, x, y,
                        workdir=str(tmp_path / 'run'))
  _overwrite_data_files(str(tmp_path / 'run' / '4'))
  resumed_from = []
  again = evolve.evolve(jax.random.key(5), cfg, x, y,
                        workdir=str(tmp_path / 'run'),
                        progress=lambda g, _: resumed_from.append(g))
  assert resumed_from == [4]  # generation 4 was redone from checkpoint 3
  _assert_same(again.state, whole.state)
