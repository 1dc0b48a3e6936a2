"""experiments.lib.validate.check_finetune: one clear error per bad field of
a fine-tuning CNN config, before anything is written."""
import os
import subprocess
import sys

import pytest

from experiments.lib import validate
from experiments.configs import finetune as finetune_config
import inprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(**overrides):
  config = finetune_config.get_config('tiny')
  config.update(overrides)
  return config


def test_every_preset_passes():
  for preset in ('', 'emodb', 'alexnet', 'tiny'):
    validate.check_finetune(finetune_config.get_config(preset))


@pytest.mark.parametrize('overrides, message', [
    (dict(protocol='loso'), 'config.protocol must be one of'),
    (dict(n_splits=-1), r'config.n_splits must be an integer >= 0'),
    (dict(folds=(0, -1)), 'config.folds must be non-negative integers'),
    (dict(folds=(1, 1)), 'config.folds repeats a value'),
    (dict(seeds=(0, 0)), 'config.seeds repeats a value'),
    (dict(normalize='speaker'), 'config.normalize must be one of'),
    (dict(val_fraction=1.0), r'config.val_fraction must be in \[0, 1\)'),
    (dict(train_fraction=0.0), r'config.train_fraction must be in \(0, 1\]'),
    (dict(shared_classes_only=True), 'shared_classes_only needs config.source'),
    (dict(optimizer='rmsprop'), 'config.optimizer must be one of'),
    (dict(learning_rate=0.0), 'config.learning_rate must be > 0'),
    (dict(pretrain_learning_rate=-1.0),
     'config.pretrain_learning_rate must be > 0'),
    (dict(batch_size=0), 'config.batch_size must be an integer >= 1'),
    (dict(epochs=-1), 'config.epochs must be an integer >= 0'),
    (dict(run_batching='threads'), 'config.run_batching must be one of'),
    (dict(on_error='ignore'), 'config.on_error must be one of'),
])
def test_bad_field_is_named(overrides, message):
  with pytest.raises(ValueError, match=message):
    validate.check_finetune(_config(**overrides))


@pytest.mark.parametrize('model, message', [
    (dict(conv_kernels=(3, 3)), 'must be non-empty and of one length'),
    (dict(pool_after=(0, 5)), r'pool_after names convolutions \[5\]'),
    (dict(dense_features=(0,)), 'dense_features must be >= 1'),
    (dict(dropout=1.0), r'dropout must be in \[0, 1\)'),
])
def test_bad_model_field_is_named(model, message):
  config = _config()
  config.model.update(model)
  with pytest.raises(ValueError, match=message):
    validate.check_finetune(config)


def test_the_old_field_names_say_their_new_names():
  config = _config()
  config.normalizer = 'pixel'
  with pytest.raises(ValueError, match='config.normalizer is now '
                     'config.normalize'):
    validate.check_finetune(config)


def test_an_unknown_field_is_named():
  config = _config()
  config.epoch = 3
  with pytest.raises(ValueError, match=r"unknown finetune config fields \['epoch'\]"):
    validate.check_finetune(config)


def test_the_binary_refuses_a_bad_config_before_writing(tmp_path):
  workdir = tmp_path / 'run'
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.finetune',
       '--config=experiments/configs/finetune.py:tiny',
       '--config.val_fraction=1.5', f'--workdir={workdir}'],
      cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS='cpu'),
      capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      'error: config.val_fraction must be in [0, 1), got 1.5')
  assert not workdir.exists()


@pytest.mark.parametrize('seeds,summary_start', [
    ('', '# CNN baseline'), ('0,1', '')])
def test_the_binary_prints_the_summary_of_a_finished_run(tmp_path, seeds,
                                                         summary_start):
  # One seed: its summary.md; several: the seeds' summary (what it wrote).
  workdir = tmp_path / 'run'
  finished = inprocess.run_binary('finetune', [
      '--config=experiments/configs/finetune.py:tiny',
      f'--config.seeds={seeds}' if seeds else '--config.seed=0',
      f'--workdir={workdir}'])
  assert finished.returncode == 0, finished.stderr
  summary = (workdir / 'summary.md').read_text(encoding='utf-8').strip()
  assert summary.startswith(summary_start)
  assert summary in finished.stdout
