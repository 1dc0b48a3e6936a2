"""The NumPy reference the benchmark times against computes the same PathNet
step as pathnet_jax, and its timing item reports every side."""
import jax
import jax.numpy as jnp
import numpy as np

from experiments.benchmarks import common
from experiments.benchmarks import reference, speedup
from pathnet_jax import model, pathway, train
import tinyconfig


def test_numpy_reference_step_equals_one_pathnet_jax_sgd_step():
  cfg = tinyconfig.tiny_config()
  cfg.optim.learning_rate = 0.1
  params = model.init(jax.random.key(0), cfg, 48, 3)
  x, y = tinyconfig.blobs(n=16)
  genotype = np.array([[3, 3], [0, 5]])  # a repeat counts once
  idx, w = pathway.slots(jnp.asarray(genotype[None]))
  tx = train.make_optimizer(cfg)
  # One step on all 16 rows: the row order does not change the mean loss.
  expect, _, _ = train.train_pathways(
      params, tx.init(params), idx, w, jnp.asarray(x), jnp.asarray(y),
      jax.random.split(jax.random.key(1), 1), tx=tx,
      frozen=jnp.zeros((2, 6), bool), num_steps=1, batch_size=16)
  got = jax.tree_util.tree_map(lambda a: np.array(a, np.float32), params)
  reference.sgd_step(got, reference.active_modules(genotype),
                     x.reshape(16, -1), y, lr=0.1)
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
      got, expect)


def test_reference_generation_copies_the_winner_into_the_loser():
  rng = np.random.default_rng(0)
  params = reference.init_params(rng, 12, 2, 5, 4, 3)
  population = [rng.integers(0, 5, (2, 2)) for _ in range(2)]
  before = [p.copy() for p in population]
  x = rng.normal(size=(20, 12)).astype(np.float32)
  y = rng.integers(0, 3, 20)
  reference.generation(rng, params, population, x, y, batch_size=8, lr=0.1,
                       num_modules=5)
  # One of the two is unchanged (the winner); the other is its mutant.
  winner = 0 if np.array_equal(population[0], before[0]) else 1
  assert np.array_equal(population[winner], before[winner])
  step = np.abs(population[1 - winner] - before[winner])
  assert np.minimum(step, 5 - step).max() <= 2  # mutation wraps modulo M


def test_reference_item_times_numpy_and_this_revision():
  result = speedup.bench_reference(common.TINY, rounds=1,
                                   configs=('paper',))
  sides = {(r['config'], r['side']) for r in result['rows']}
  assert sides == {('paper', 'numpy reference'), ('paper', 'this revision')}
  assert all(r['generation_s'] > 0 for r in result['rows'])
  assert '| paper | numpy reference |' in '\n'.join(
      speedup.markdown(result))
