"""Issue 33: the level-field controls (config.method) on PathNet's engine,
their step budget, learning speed and the pathway map."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.lib import controls
from experiments.lib import learning_speed
from experiments.lib import outputs
from experiments.lib import pathnet_protocol
from experiments.lib import tensorboard
from pathnet_jax import ga
from pathnet_jax import generation as gen_lib
from pathnet_jax import pathway
from pathnet_jax import train as train_lib
import tinyconfig


def _tiny(**overrides):
  """3 speakers x 3 classes x 4 utterances, 3 generations, held-out fitness
  (the speed curve needs held-out rows) and a final phase."""
  c = tinyconfig.synthetic_run_config(utterances_per_class=4, generations=3,
                                      fitness='heldout', **overrides)
  c.evolution.heldout_training = 'final'
  return c


# --------------------------------------------------------------------------
# What each method runs.


def test_pathnet_method_runs_the_config_as_it_is():
  config = _tiny()
  assert controls.engine_config(config) is config


def test_independent_control_is_every_module_active_from_scratch():
  config = _tiny(task='transfer', sources=('synthetic',), method='independent')
  c = controls.engine_config(config)
  assert c.model.max_active == c.model.num_modules == 4
  assert c.evolution.population_init == 'all_modules'
  assert c.evolution.mutation_rate == 0.0 and c.task == 'scratch'
  assert config.task == 'transfer'  # the given config is not changed


def test_fixed_pathway_keeps_the_task_and_one_random_pathway():
  c = controls.engine_config(_tiny(task='transfer', sources=('synthetic',),
                                   method='fixed_pathway'))
  assert c.task == 'transfer' and c.model.max_active == 4
  assert c.evolution.population_init == 'one_random'


def test_finetune_without_a_source_is_refused():
  with pytest.raises(ValueError, match="method='finetune' needs a source"):
    controls.engine_config(_tiny(method='finetune'))
  with pytest.raises(ValueError, match='config.method must be one of'):
    controls.engine_config(_tiny(method='scratch'))


def test_control_populations_are_copies_of_one_pathway():
  config = tinyconfig.tiny_config()
  config.evolution.population_init = 'one_random'
  one = np.asarray(ga.initial_genotypes(jax.random.key(0), config))
  assert (one == one[0]).all()
  config.evolution.population_init = 'all_modules'
  config.model.max_active = config.model.num_modules
  every = np.asarray(ga.initial_genotypes(jax.random.key(0), config))
  assert every.shape == (6, 2, 6)
  assert (every == np.arange(6)).all()


def test_fixed_pathway_evolution_equals_training_that_pathway_directly():
  """With the population copies of one pathway and no mutation, a
  generation is T steps of that pathway for each tournament member, keyed
  as the generation keys them: the same weights, the same fitness."""
  config = tinyconfig.tiny_config(mutation_rate=0.0,
                                  population_init='one_random')
  x, y = tinyconfig.blobs(n=48)
  from pathnet_jax import model  # pylint: disable=g-import-not-at-top
  params = model.init(jax.random.key(0), config, 48, 3)
  tx = train_lib.make_optimizer(config)
  state = gen_lib.init_state(jax.random.key(1), config, params, tx)
  fn, steps = gen_lib.make_generation_fn(config, tx, 48)
  frozen = jnp.zeros((2, 6), bool)
  genotype = state.ga.genotypes[0]
  direct_params, direct_opt, key = params, state.opt_state, state.key
  for _ in range(3):
    state, summary = fn(state, x.reshape(48, -1), y, x.reshape(48, -1), y,
                        frozen, jnp.zeros((2, 0), jnp.int32),
                        jnp.zeros((2, 0), jnp.float32))
    _, _, k_train, _ = jax.random.split(jax.random.wrap_key_data(key), 4)
    key = jax.random.key_data(jax.random.split(
        jax.random.wrap_key_data(key), 4)[0])
    idx, w = pathway.slots(jnp.stack([genotype, genotype]))
    direct_params, direct_opt, _ = train_lib.train_pathways(
        direct_params, direct_opt, idx, w, jnp.asarray(x.reshape(48, -1)),
        jnp.asarray(y), jax.random.split(k_train, 2), tx=tx, frozen=frozen,
        num_steps=steps, batch_size=16)
  assert (np.asarray(state.ga.genotypes) == np.asarray(genotype)).all()
  jax.tree_util.tree_map(np.testing.assert_array_equal, state.params,
                         direct_params)
  accuracy, _ = train_lib.evaluate(direct_params, idx[:1], w[:1],
                                   jnp.asarray(x.reshape(48, -1)),
                                   jnp.asarray(y))
  np.testing.assert_allclose(summary['best_fitness'], accuracy[0])


# --------------------------------------------------------------------------
# The same budget, recorded.


@pytest.fixture(scope='module')
def method_results(tmp_path_factory):
  """method -> results.json of the tiny transfer config under it."""
  out = {}
  for method in controls.METHODS:
    config = _tiny(task='transfer', sources=('synthetic',), method=method)
    workdir = str(tmp_path_factory.mktemp(method))
    out[method] = (workdir,
                   pathnet_protocol.train_and_evaluate(config, workdir))
  return out


@pytest.mark.slow  # four whole transfer protocols (the module fixture)
def test_every_method_trains_the_same_target_sgd_steps(method_results):
  steps = {m: [f['target_sgd_steps'] for f in r['folds']]
           for m, (_, r) in method_results.items()}
  assert len({tuple(s) for s in steps.values()}) == 1, steps
  fold = method_results['pathnet'][1]['folds'][0]
  assert fold['target_sgd_steps'] == (
      3 * fold['sgd_steps_per_generation'] + fold['final_steps'])
  assert fold['sgd_steps_per_generation'] == 2 * fold['steps_per_pathway']


@pytest.mark.slow  # four whole transfer protocols (the module fixture)
def test_finetune_keeps_no_module_frozen_and_transfer_does(method_results):
  folds = {m: r['folds'][0] for m, (_, r) in method_results.items()}
  assert 'frozen_modules' not in folds['finetune']
  assert 'frozen_modules' not in folds['independent']
  assert np.asarray(folds['pathnet']['frozen_modules']).any()


@pytest.mark.slow  # four whole transfer protocols (the module fixture)
def test_pathway_map_is_written_beside_fitness_and_to_tensorboard(
    method_results):
  workdir, results = method_results['pathnet']
  assert os.path.isfile(os.path.join(workdir, outputs.PATHWAY_MAP))
  assert os.path.isfile(os.path.join(workdir, 'fold_0', outputs.PATHWAY_MAP))
  images = tensorboard.read_images(tensorboard.log_dir(workdir))
  png = images['fold_0/pathway_map'][0][1]
  assert png[:8] == b'\x89PNG\r\n\x1a\n'
  occupancy = np.asarray(results['folds'][0]['module_occupancy'])
  assert occupancy.shape == (3, 4)
  # Every member holds between 1 and max_active modules of each layer.
  assert np.all((occupancy.sum(1) >= 1) & (occupancy.sum(1) <= 4))


@pytest.mark.slow  # four whole transfer protocols (the module fixture)
def test_the_independent_control_holds_every_module_all_the_time(
    method_results):
  occupancy = np.asarray(
      method_results['independent'][1]['folds'][0]['module_occupancy'])
  np.testing.assert_allclose(occupancy, 1.0)


# --------------------------------------------------------------------------
# Learning speed.


def _fold(best, per_generation=10, generations=None):
  return {'history': {'best_fitness': best},
          'sgd_steps_per_generation': per_generation,
          'generations': generations or len(best), 'fitness': 'heldout'}


def test_steps_to_threshold_is_the_first_generation_reaching_it():
  steps, acc = learning_speed.curve(_fold([0.2, 0.5, 0.7, 0.7]))
  assert steps.tolist() == [10, 20, 30, 40]
  assert learning_speed.steps_to(steps, acc, 0.5, 40) == 20
  assert learning_speed.steps_to(steps, acc, 0.9, 40) == 40  # the budget


def test_speedup_pairs_runs_and_sets_the_threshold_by_the_reference():
  methods = {
      'transfer': {(0, 0): _fold([0.6, 0.8]), (0, 1): _fold([0.7, 0.9])},
      'independent': {(0, 0): _fold([0.4, 0.8]), (0, 1): _fold([0.3, 1.0])},
  }
  steps = learning_speed.steps_to_threshold(methods, 'independent', 0.95)
  # Thresholds 0.76 and 0.95: transfer reaches them at 20 and never (20).
  assert steps['transfer'] == {(0, 0): 20, (0, 1): 20}
  assert steps['independent'] == {(0, 0): 20, (0, 1): 20}
  ratios = learning_speed.speedups(steps, 'transfer')
  assert ratios['independent']['geomean_ratio'] == pytest.approx(1.0)
  assert '| independent | 20 | 1.00 |' in learning_speed.markdown(
      steps, 'transfer', 'independent', 0.95)


def test_a_run_with_training_fitness_has_no_speed_curve():
  fold = {**_fold([0.5]), 'fitness': 'train'}
  with pytest.raises(ValueError, match='no held-out curve'):
    learning_speed.curve(fold)

