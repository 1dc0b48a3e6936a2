"""TensorBoard events (experiments/lib/tensorboard.py): what is written reads back
at the right steps, only process 0 writes, a full disk never stops a run,
and experiments.finetune logs its epochs and test scores."""
import logging
import os

import numpy as np
import pytest

from experiments.lib import finetune
from experiments.lib import tensorboard
from test_finetune import _config, _tiny_corpus


def _read(workdir):
  return tensorboard.read_scalars(tensorboard.log_dir(str(workdir)))


def test_history_values_land_at_step_index_plus_one(tmp_path):
  with tensorboard.writer(str(tmp_path)) as tb:
    tensorboard.write_history(tb, {'loss': [1.5, 0.75, 0.5],
                                   'accuracy': [0.25, 0.5],
                                   'best_epoch': 1}, prefix='fold_0/train/')
  assert _read(tmp_path) == {
      'fold_0/train/loss': [(1, 1.5), (2, 0.75), (3, 0.5)],
      'fold_0/train/accuracy': [(1, 0.25), (2, 0.5)]}


def test_scalars_at_a_step_leave_out_none(tmp_path):
  with tensorboard.writer(str(tmp_path)) as tb:
    tensorboard.write_scalars(tb, 7, {'fold_1/test/ua': np.float32(0.625),
                                      'fold_1/test/recall_2': None})
  assert _read(tmp_path) == {'fold_1/test/ua': [(7, 0.625)]}


def test_events_go_to_the_workdirs_tensorboard_folder(tmp_path):
  with tensorboard.writer(str(tmp_path / 'run')) as tb:
    tensorboard.write_scalars(tb, 1, {'a': 1.0})
  (name,) = os.listdir(tmp_path / 'run' / 'tensorboard')
  assert name.startswith('events.out.tfevents.')


def test_nothing_is_created_before_the_first_scalar(tmp_path):
  with tensorboard.writer(str(tmp_path)):
    pass
  assert not (tmp_path / 'tensorboard').exists()


def test_other_processes_than_0_write_nothing(tmp_path):
  with tensorboard.writer(str(tmp_path), process_index=1) as tb:
    tensorboard.write_history(tb, {'loss': [1.0, 0.5]})
    tensorboard.write_scalars(tb, 2, {'test/ua': 0.5})
  assert not tb.enabled
  assert list(tmp_path.iterdir()) == []


def test_two_writers_in_one_second_keep_both_files(tmp_path):
  for step in (1, 2):
    with tensorboard.writer(str(tmp_path)) as tb:
      tensorboard.write_scalars(tb, step, {'a': float(step)})
  assert _read(tmp_path) == {'a': [(1, 1.0), (2, 2.0)]}


def test_replace_drops_earlier_events_at_the_first_write(tmp_path):
  with tensorboard.writer(str(tmp_path)) as tb:
    tensorboard.write_scalars(tb, 1, {'old': 1.0})
  tb = tensorboard.writer(str(tmp_path), replace=True)
  assert 'old' in _read(tmp_path)  # kept until something new is written
  with tb:
    tensorboard.write_scalars(tb, 1, {'new': 2.0})
  assert _read(tmp_path) == {'new': [(1, 2.0)]}


def test_a_resumed_run_continues_the_same_curve(tmp_path):
  for steps in ((1, 2), (3,)):
    with tensorboard.writer(str(tmp_path)) as tb:
      for step in steps:
        tensorboard.write_scalars(tb, step, {'fitness': step / 10})
  assert [s for s, _ in _read(tmp_path)['fitness']] == [1, 2, 3]


def test_a_full_disk_warns_once_and_the_run_goes_on(tmp_path, monkeypatch,
                                                     caplog):
  # Every event file lands on /dev/full: each flush fails with ENOSPC.
  monkeypatch.setattr(tensorboard.record_writer, 'open_file',
                      lambda path: open('/dev/full', 'wb'))
  with caplog.at_level(logging.WARNING):
    with tensorboard.writer(str(tmp_path)) as tb:
      for step in range(1, 4):
        tensorboard.write_scalars(tb, step, {'loss': 1.0 / step})
      tensorboard.write_history(tb, {'accuracy': [0.5, 0.6]})
  warnings = [r.getMessage() for r in caplog.records
              if r.levelno == logging.WARNING]
  assert len(warnings) == 1 and 'No space left on device' in warnings[0]
  assert not tb.enabled


def test_an_unwritable_folder_warns_instead_of_raising(tmp_path, caplog):
  (tmp_path / 'tensorboard').write_text('a file where the folder should be')
  with caplog.at_level(logging.WARNING):
    with tensorboard.writer(str(tmp_path)) as tb:
      tensorboard.write_scalars(tb, 1, {'loss': 1.0})
      tensorboard.write_scalars(tb, 2, {'loss': 0.5})
  assert len([r for r in caplog.records if 'TensorBoard' in r.getMessage()]
             ) == 1


def test_a_record_cut_short_ends_the_file(tmp_path):
  with tensorboard.writer(str(tmp_path)) as tb:
    tensorboard.write_scalars(tb, 1, {'a': 1.0})
    tensorboard.write_scalars(tb, 2, {'a': 2.0})
  (path,) = (tmp_path / 'tensorboard').iterdir()
  path.write_bytes(path.read_bytes()[:-3])  # a run killed mid-write
  assert _read(tmp_path) == {'a': [(1, 1.0)]}


# experiments.finetune.

@pytest.fixture(scope='module')
def finetune_run(tmp_path_factory):
  """A tiny fine-tuning run (source, 2 folds, 2 epochs, validation)."""
  workdir = tmp_path_factory.mktemp('finetune')
  corpora = {'tiny': _tiny_corpus(0), 'tiny_source': _tiny_corpus(1, 2, 3)}
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(finetune, 'load_corpus', lambda name, config: corpora[name])
    results = finetune.train_and_evaluate(
        _config(target='tiny', source='tiny_source', val_fraction=0.25,
                epochs=2, pretrain_epochs=2), str(workdir))
  return results, _read(workdir)


def test_finetune_writes_every_documented_tag(finetune_run):
  _, scalars = finetune_run
  assert sorted(scalars) == sorted(finetune.scalar_tags(
      n_folds=2, source=True, validation=True))


def test_finetune_logs_each_epochs_training_numbers(finetune_run):
  results, scalars = finetune_run
  history = results['folds'][1]['history']
  assert scalars['fold_1/train/loss'] == [
      (1, pytest.approx(history['loss'][0])),
      (2, pytest.approx(history['loss'][1]))]
  assert [v for _, v in scalars['fold_1/validation/accuracy']] == (
      pytest.approx(history['val_accuracy']))
  assert [s for s, _ in scalars['pretrain/train/accuracy']] == [1, 2]


def test_finetune_logs_each_folds_test_scores_at_its_last_epoch(finetune_run):
  results, scalars = finetune_run
  for fold in results['folds']:
    i = fold['fold']
    assert scalars[f'fold_{i}/test/ua'] == [
        (2, pytest.approx(fold['utterance']['ua']))]
    assert scalars[f'fold_{i}/test/segment_wa'] == [
        (2, pytest.approx(fold['segment']['wa']))]
