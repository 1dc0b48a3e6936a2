import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pathnet_jax import checks
from pathnet_jax import ga
import tinyconfig


def _state(seed=0, **evolution):
  return ga.init(jax.random.key(seed), tinyconfig.tiny_config(**evolution))


def test_init_population_shape_and_unevaluated_fitness():
  s = _state()
  assert s.genotypes.shape == (6, 2, 2)
  assert np.all(np.isneginf(s.fitness)) and int(s.generation) == 0


def test_ask_returns_distinct_members_for_each_tournament():
  s = _state(tournaments_per_generation=3)
  c = np.asarray(ga.ask(jax.random.key(3), s))
  assert c.shape == (6,) and len(set(c.tolist())) == 6


def test_too_many_tournaments_is_a_clear_error():
  with pytest.raises(ValueError, match='tournaments_per_generation'):
    checks.validate_config(
        tinyconfig.tiny_config(tournaments_per_generation=4))


def test_tell_copies_winner_into_loser_and_leaves_winner():
  s = _state()
  s = s.replace(mutation_rate=0.0)  # no mutation: the copy is exact
  cand = jnp.array([4, 1])
  out = ga.tell(jax.random.key(0), s, cand, jnp.array([0.3, 0.7]))
  np.testing.assert_array_equal(out.genotypes[4], s.genotypes[1])
  np.testing.assert_array_equal(out.genotypes[1], s.genotypes[1])
  others = np.array([0, 2, 3, 5])
  np.testing.assert_array_equal(out.genotypes[others], s.genotypes[others])
  assert float(out.fitness[1]) == pytest.approx(0.7)
  np.testing.assert_array_equal(out.best_genotype, s.genotypes[1])
  assert float(out.best_fitness) == pytest.approx(0.7)
  assert int(out.generation) == 1


def test_tell_mutates_the_copy_with_rate_one():
  s = _state().replace(mutation_rate=1.0)
  out = ga.tell(jax.random.key(5), s, jnp.array([0, 2]), jnp.array([0.9, 0.1]))
  diff = np.asarray(out.genotypes[2]) - np.asarray(s.genotypes[0])
  assert np.any(diff != 0)
  np.testing.assert_array_equal(out.genotypes[0], s.genotypes[0])


def test_ties_follow_the_tiebreak_value():
  s = _state().replace(mutation_rate=0.0)
  out = ga.tell(jax.random.key(0), s, jnp.array([0, 1]), jnp.array([1.0, 1.0]),
                tiebreak=jnp.array([-0.5, -0.1]))  # member 1 has lower loss
  np.testing.assert_array_equal(out.genotypes[0], s.genotypes[1])


def test_ask_tell_are_jittable_and_trace_once():
  s = _state()

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(key, state):
    k1, k2 = jax.random.split(key)
    cand = ga.ask(k1, state)
    return ga.tell(k2, state, cand, jnp.array([0.2, 0.4]))

  for i in range(3):
    s = step(jax.random.key(i), s)
  assert int(s.generation) == 3
