"""Tests for the CNN fine-tuning baseline (experiments.lib.cnn, .finetune)."""
import json

import jax
import numpy as np
import pytest

from data_prep.store import FeatureSet
from experiments.lib import cnn
from experiments.lib import finetune
from experiments.lib import workdir as workdir_lib
from experiments.configs import finetune as finetune_config


def _config(**overrides):
  config = finetune_config.get_config('tiny')
  config.model.conv_features = (4, 8, 8, 8, 8)
  config.model.dense_features = (16,)
  config.model.dropout = 0.0
  config.update(overrides)
  return config


def _separable(seed, n, num_classes, shape=(16, 16, 3)):
  """[n, *shape] inputs whose class c raises channel c % 3 by 2."""
  rng = np.random.default_rng(seed)
  y = np.arange(n) % num_classes
  x = rng.normal(size=(n, *shape)).astype(np.float32)
  x[np.arange(n), :, :, y % 3] += 2.0 * (1 - 2 * (y // 3))[:, None, None]
  return x, y.astype(np.int32)


def test_cnn_fits_tiny_separable_problem():
  x, y = _separable(0, 64, 3)
  params, history = cnn.train_cnn(jax.random.key(0), _config(epochs=5), x, y)
  assert len(history['loss']) == 5
  assert history['loss'][-1] < history['loss'][0]
  pred = cnn.predict_log_probs(params, x, _config()).argmax(1)
  assert np.mean(pred == y) > 0.9


def test_pretrain_then_finetune_changes_every_layer_and_swaps_head():
  source, target = _separable(1, 48, 3), _separable(2, 32, 2)
  result = finetune.pretrain_then_finetune(jax.random.key(0), _config(),
                                           source, target)
  assert cnn.num_classes_of(result.pretrained) == 3
  assert cnn.num_classes_of(result.params) == 2
  body = [k for k in result.params if k != 'head']
  assert len(body) == 5 + 1  # five convs, one dense
  for name in body:
    for leaf_name, leaf in result.params[name].items():
      assert np.any(leaf != result.pretrained[name][leaf_name]), (
          f'{name}/{leaf_name} was not fine-tuned')
  assert set(result.history) == {'pretrain', 'finetune'}


def test_validation_keeps_best_epoch():
  x, y = _separable(3, 48, 2)
  _, history = cnn.train_cnn(jax.random.key(0), _config(epochs=3), x, y,
                             validation=(x[:16], y[:16]))
  assert len(history['val_accuracy']) == 3
  assert history['val_accuracy'][history['best_epoch']] == max(
      history['val_accuracy'])


def _tiny_corpus(seed, n_speakers=4, num_classes=2, utts=2, segs=2):
  rows = [(s, c) for s in range(n_speakers) for c in range(num_classes)
          for _ in range(utts)]
  spk, lab = (np.repeat(np.array(v), segs) for v in zip(*rows))
  x, _ = _separable(seed, lab.size, num_classes)
  x[np.arange(lab.size), :, :, lab] += 2.0
  n = lab.size
  return FeatureSet(
      x=x, label=lab.astype(np.int32),
      utterance=np.repeat(np.arange(n // segs), segs).astype(np.int32),
      speaker=np.array([f's{i}' for i in spk]), corpus=np.full(n, 'tiny'),
      sex=np.full(n, ''), class_names=tuple(f'c{i}' for i in range(
          num_classes)), utterance_ids=tuple(f'u{i}' for i in range(n // segs)))


@pytest.mark.parametrize('source', [None, 'tiny_source'])
def test_train_and_evaluate_writes_results(tmp_path, monkeypatch, source):
  corpora = {'tiny': _tiny_corpus(0), 'tiny_source': _tiny_corpus(1, 2, 3)}
  monkeypatch.setattr(finetune, 'load_corpus',
                      lambda name, config: corpora[name])
  config = _config(target='tiny', source=source, val_fraction=0.25)
  finetune.train_and_evaluate(config, str(tmp_path))
  results = json.loads((tmp_path / 'results.json').read_text())
  assert results['method'] == ('finetune_cnn' if source else 'cnn_scratch')
  assert len(results['folds']) == results['n_folds'] == 2
  for level in ('segment', 'utterance'):
    agg = results['aggregate'][level]
    assert 0.0 <= agg['wa_mean'] <= 1.0 and agg['ua_std'] >= 0.0
    assert np.array(agg['confusion']).shape == (2, 2)
  # Every utterance is tested once; every segment too.
  assert np.sum(results['aggregate']['utterance']['confusion']) == 16
  assert np.sum(results['aggregate']['segment']['confusion']) == 32
  fold = results['folds'][0]
  assert len(fold['utterance']['per_class_recall']) == 2
  assert {'train_s', 'eval_s', 'history'} <= set(fold)
  assert results['config']['target'] == 'tiny' and results['seed'] == 0
  assert (tmp_path / 'confusion.png').read_bytes()[:4] == b'\x89PNG'
  assert '| utterance |' in (tmp_path / 'summary.md').read_text()


def test_a_workdir_in_use_is_refused_before_any_training(tmp_path):
  with workdir_lib.exclusive(str(tmp_path)):
    with pytest.raises(workdir_lib.InUse, match='in use by process'):
      finetune.train_and_evaluate(finetune_config.get_config('tiny'),
                                  str(tmp_path))
  assert sorted(p.name for p in tmp_path.iterdir()) == ['run.lock']


def test_configs_recorded_before_the_renames_read_as_todays():
  today = json.loads(json.dumps(_config().to_dict()))
  old = {k: v for k, v in today.items()
         if k not in ('seeds', 'folds', 'run_batching', 'normalize')}
  old.update(normalizer=today['normalize'], max_folds=0)
  assert finetune.upgrade_recorded(old) == finetune.upgrade_recorded(today)
  old['normalizer'] = 'none'
  assert finetune.upgrade_recorded(old) != finetune.upgrade_recorded(today)
