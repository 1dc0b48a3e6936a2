"""experiments.lib.cnn_runs and the CNN protocol: a batch of runs (folds x
seeds) gives each run what it gives alone."""
import json

import jax
import numpy as np
import pytest

from experiments.lib import cnn
from experiments.lib import cnn_runs
from experiments.lib import finetune
from experiments.configs import finetune as finetune_config


def _config(**overrides):
  config = finetune_config.get_config('tiny')
  config.model.dense_features = (16,)
  config.epochs = 2
  config.update(overrides)
  return config


def _runs(sizes=(40, 33, 48), validate_run=1):
  """Runs of different row counts (one with validation rows)."""
  rng = np.random.default_rng(0)
  out = []
  for i, n in enumerate(sizes):
    x = rng.normal(size=(n, 16, 16, 3)).astype(np.float32)
    y = (np.arange(n) % 3).astype(np.int32)
    out.append(cnn_runs.CnnRun(
        jax.random.key(i), x, y, num_classes=3,
        validation=(x[:8], y[:8]) if i == validate_run else None))
  return out


def _alone(config, runs):
  return [cnn.train_cnn(r.key, config, r.x, r.y, num_classes=r.num_classes,
                        validation=r.validation) for r in runs]


def _leaves(params):
  return [np.asarray(leaf) for leaf in jax.tree.leaves(params)]


def test_loop_batch_gives_each_run_exactly_what_it_gives_alone():
  config, runs = _config(), _runs()
  for (params, history), (alone, alone_history) in zip(
      cnn_runs.train_runs(config, runs, batching='loop'),
      _alone(config, runs)):
    for a, b in zip(_leaves(params), _leaves(alone)):
      np.testing.assert_array_equal(a, b)
    assert history == alone_history


def test_vmap_batch_gives_each_run_what_it_gives_alone_to_rounding():
  config, runs = _config(), _runs()
  for (params, history), (alone, alone_history) in zip(
      cnn_runs.train_runs(config, runs, batching='vmap'),
      _alone(config, runs)):
    for a, b in zip(_leaves(params), _leaves(alone)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(history['loss'], alone_history['loss'],
                               rtol=1e-5)
    assert history.get('best_epoch') == alone_history.get('best_epoch')


def test_vmap_trains_a_run_smaller_than_a_minibatch_as_alone():
  # 5 rows < batch_size 8: that run steps on all its rows, in its own group.
  config, runs = _config(), _runs(sizes=(24, 5), validate_run=None)
  for (params, _), (alone, _) in zip(
      cnn_runs.train_runs(config, runs, batching='vmap'),
      _alone(config, runs)):
    for a, b in zip(_leaves(params), _leaves(alone)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_padding_rows_never_reach_a_minibatch():
  # The same run beside a much larger one, its padding made of NaNs'
  # stand-in (huge values): its parameters stay those of the run alone.
  config = _config()
  small, = _runs(sizes=(16,), validate_run=None)
  big = cnn_runs.CnnRun(jax.random.key(9),
                        np.full((64, 16, 16, 3), 1e6, np.float32),
                        np.zeros(64, np.int32), num_classes=3)
  (params, _), _ = cnn_runs.train_runs(config, [small, big], batching='vmap')
  (alone, _), = _alone(config, [small])
  for a, b in zip(_leaves(params), _leaves(alone)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_unknown_batching_is_one_clear_error():
  with pytest.raises(ValueError, match='run_batching must be one of'):
    cnn_runs.batching_mode(_config(run_batching='threads'))


def _protocol(tmp_path, name, **overrides):
  config = _config(run_batching='loop', val_fraction=0.25, epochs=1,
                   **overrides)
  config.synthetic = dict(num_speakers=4, num_classes=3,
                          utterances_per_class=2)
  return finetune.train_and_evaluate(config, str(tmp_path / name))


def _fold_scores(results):
  return [(f['fold'], f['utterance']['ua'], f['segment']['wa'],
           f['history']['loss']) for f in results['folds']]


def test_seeds_batched_give_each_seed_its_results_alone(tmp_path):
  _protocol(tmp_path, 'both', seeds=(0, 1))
  with open(tmp_path / 'both' / 'results.json') as f:
    batched = json.load(f)
  assert batched['seeds'] == [0, 1]
  for seed in (0, 1):
    _protocol(tmp_path, f'seed{seed}', seed=seed)
    with open(tmp_path / f'seed{seed}' / 'results.json') as f:
      alone = json.load(f)
    with open(tmp_path / 'both' / f'seed_{seed}' / 'results.json') as f:
      in_batch = json.load(f)
    assert in_batch['seed'] == seed and in_batch['n_folds'] == 2
    assert _fold_scores(in_batch) == _fold_scores(alone)
    assert batched['per_seed'][str(seed)]['aggregate'] == in_batch[
        'aggregate']
  assert (tmp_path / 'both' / 'summary.md').read_text().count('| [') == 2


def test_transfer_seeds_each_pretrain_their_own_source(tmp_path):
  results = _protocol(tmp_path, 'transfer', seeds=(0, 1), source='synthetic',
                      folds=(1,))
  histories = []
  for seed in (0, 1):
    with open(tmp_path / 'transfer' / f'seed_{seed}' / 'results.json') as f:
      r = json.load(f)
    assert r['method'] == 'finetune_cnn' and [
        f['fold'] for f in r['folds']] == [1]
    histories.append(r['pretrain_history']['loss'])
  assert histories[0] != histories[1]
  assert results['method'] == 'finetune_cnn'
