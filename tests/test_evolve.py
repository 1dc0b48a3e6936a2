import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pathnet_jax import checks, evolve, model, pathway, train, transfer
from pathnet_jax import generation as gen_lib
import tinyconfig


def _assert_trees_equal(a, b):
  jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


def _data():
  return tinyconfig.blobs(n=64, num_classes=3)


def test_evolve_reaches_high_training_accuracy_on_separable_data():
  x, y = _data()
  cfg = tinyconfig.tiny_config(generations=12)
  r = evolve.evolve(jax.random.key(0), cfg, x, y)
  assert r.best_fitness > 0.9
  assert r.history['best_fitness'].shape == (12,)
  assert np.all(np.diff(r.history['best_fitness']) >= 0)
  assert r.best_genotype.shape == (2, 2)


def test_generation_compiles_once():
  x, y = _data()
  cfg = tinyconfig.tiny_config()
  params = model.init(jax.random.key(0), cfg, 48, 3)
  tx = train.make_optimizer(cfg)
  state = gen_lib.init_state(jax.random.key(1), cfg, params, tx)
  step, _ = gen_lib.make_generation_fn(cfg, tx, 64,
                                     wrap=chex.assert_max_traces(n=1))
  frozen = jnp.zeros((2, 6), bool)
  for _ in range(3):
    state, _ = step(state, x, y, x, y, frozen, None, None)
  assert int(state.ga.generation) == 3


@pytest.mark.parametrize('mode', ['sequential', 'parallel'])
def test_same_seed_same_result_other_seed_differs(mode):
  x, y = _data()
  cfg = tinyconfig.tiny_config(generations=3, train_mode=mode)
  a = evolve.evolve(jax.random.key(1), cfg, x, y)
  b = evolve.evolve(jax.random.key(1), cfg, x, y)
  c = evolve.evolve(jax.random.key(2), cfg, x, y)
  _assert_trees_equal(a.params, b.params)
  np.testing.assert_array_equal(a.state.ga.genotypes, b.state.ga.genotypes)
  assert np.any(np.asarray(a.params['layers'][0]['w']) !=
                np.asarray(c.params['layers'][0]['w']))


def test_killed_run_resumes_bit_identical(tmp_path):
  x, y = _data()
  cfg = tinyconfig.tiny_config(generations=6, checkpoint_every=2)
  whole = evolve.evolve(jax.random.key(3), cfg, x, y,
                        workdir=str(tmp_path / 'whole'))

  class Killed(Exception):
    pass

  def kill_after_3(g, _):
    if g == 3:
      raise Killed

  with pytest.raises(Killed):
    evolve.evolve(jax.random.key(3), cfg, x, y, workdir=str(tmp_path / 'cut'),
                  progress=kill_after_3)
  resumed_from = []
  resumed = evolve.evolve(jax.random.key(3), cfg, x, y,
                          workdir=str(tmp_path / 'cut'),
                          progress=lambda g, _: resumed_from.append(g))
  assert resumed_from[0] == 3  # generations 1-2 came from the checkpoint
  _assert_trees_equal(whole.params, resumed.params)
  _assert_trees_equal(whole.state.ga, resumed.state.ga)
  _assert_trees_equal(whole.state.opt_state, resumed.state.opt_state)
  np.testing.assert_array_equal(whole.history['best_fitness'],
                                resumed.history['best_fitness'])


def test_nan_rows_never_reach_the_weights():
  x, y = _data()
  x[5] = np.nan
  cfg = tinyconfig.tiny_config(generations=3)
  r = evolve.evolve(jax.random.key(0), cfg, x, y)
  for leaf in jax.tree_util.tree_leaves(r.params):
    assert np.all(np.isfinite(np.asarray(leaf)))
  assert r.history['skipped_steps'].sum() > 0


@pytest.mark.parametrize('optimizer', ['sgd', 'adamw'])
def test_transfer_keeps_frozen_modules_bit_identical(optimizer):
  x, y = _data()
  cfg = tinyconfig.tiny_config(generations=3)
  cfg.optim.optimizer = optimizer
  cfg.optim.weight_decay = 0.01
  src = evolve.evolve(jax.random.key(0), cfg, x, y)
  frozen, params_t = transfer.freeze(src.params, src.best_genotype, cfg,
                                     key=jax.random.key(9), num_classes=2)
  x2, y2 = tinyconfig.blobs(n=64, num_classes=2, seed=1)
  tgt = evolve.evolve(jax.random.key(1), cfg, x2, y2, frozen=frozen,
                      init_params=params_t)
  for l in range(2):
    for leaf in ('w', 'b'):
      np.testing.assert_array_equal(
          np.asarray(tgt.params['layers'][l][leaf])[frozen[l]],
          np.asarray(src.params['layers'][l][leaf])[frozen[l]])
  assert tgt.params['head']['w'].shape == (8, 2)
  # Frozen modules join every target pathway (the paper's choice).
  assert tgt.frozen_slots is not None
  np.testing.assert_array_equal(
      np.asarray(pathway.to_mask(jnp.asarray(src.best_genotype), 6)) > 0,
      frozen)


def test_rejects_bad_configs_with_clear_messages():
  x, y = _data()
  with pytest.raises(ValueError, match='generations'):
    evolve.evolve(jax.random.key(0), tinyconfig.tiny_config(generations=0),
                  x, y)
  cfg = tinyconfig.tiny_config()
  cfg.optim.batch_size = 1000
  with pytest.raises(ValueError, match='batch_size'):
    evolve.evolve(jax.random.key(0), cfg, x, y)
  with pytest.raises(ValueError, match='rows'):
    evolve.evolve(jax.random.key(0), tinyconfig.tiny_config(), x, y[:10])


@pytest.mark.parametrize('section, field, value, words', [
    ('optim', 'learning_rate', float('nan'), 'optim.learning_rate must be '
     'finite and > 0, got nan'),
    ('optim', 'learning_rate', 0.0, 'optim.learning_rate must be finite'),
    ('model', 'max_active', 0, 'model.max_active must be in [1, '
     'model.num_modules=6], got 0'),
    ('model', 'max_active', 7, 'model.max_active must be in [1,'),
    ('model', 'num_layers', 0, 'model.num_layers must be >= 1, got 0'),
    ('model', 'num_modules', 0, 'model.num_modules must be >= 1'),
    ('model', 'module_units', 0, 'model.module_units must be >= 1'),
    ('optim', 'batch_size', 0, 'optim.batch_size must be >= 1, got 0'),
    ('optim', 'input_dropout', 1.0, 'optim.input_dropout must be in [0, 1)'),
    ('evolution', 'mutation_rate', 1.5, 'evolution.mutation_rate must be in '
     '[0, 1]'),
    ('evolution', 'tournaments_per_generation', 4,
     'evolution.tournaments_per_generation must be in [1, population_size '
     '// 2 = 3], got 4'),
    ('evolution', 'checkpoint_every', -1, 'evolution.checkpoint_every must '
     'be >= 0'),
])
def test_settings_outside_their_range_name_the_field(section, field, value,
                                                     words):
  cfg = tinyconfig.tiny_config()
  cfg[section][field] = value
  with pytest.raises(ValueError) as e:
    checks.validate_config(cfg)
  assert words in str(e.value)


def test_default_and_tiny_configs_are_valid():
  checks.validate_config(tinyconfig.tiny_config())
  cfg = tinyconfig.tiny_config()
  cfg.evolution.mutation_rate = 0.0  # no mutation is a valid choice
  checks.validate_config(cfg)


def test_generation_of_mostly_skipped_steps_stops_the_run():
  x, y = _data()
  x[:] = np.nan  # every step's loss is non-finite
  with pytest.raises(ValueError, match=r'^generation 1: \d+ of \d+ training '
                     r'steps were skipped as non-finite'):
    evolve.evolve(jax.random.key(0), tinyconfig.tiny_config(generations=3),
                  x, y)


def test_skipped_fraction_limit_is_configurable():
  x, y = _data()
  x[:] = np.nan
  r = evolve.evolve(jax.random.key(0), tinyconfig.tiny_config(
      generations=2, max_skipped_fraction=1.0), x, y)
  assert r.history['skipped_steps'].min() > 0
