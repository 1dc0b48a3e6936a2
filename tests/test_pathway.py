import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pathnet_jax import pathway


def test_random_genotypes_shape_dtype_and_range():
  g = pathway.random_genotypes(jax.random.key(0), 20, 3, 4, 20)
  assert g.shape == (20, 3, 4) and g.dtype == jnp.int32
  assert int(g.min()) >= 0 and int(g.max()) < 20


def test_mask_counts_a_repeated_module_once():
  mask = pathway.to_mask(jnp.array([[1, 1, 3], [0, 2, 2]]), 5)
  np.testing.assert_array_equal(
      mask, [[0, 1, 0, 1, 0], [1, 0, 1, 0, 0]])


def test_mask_keeps_batch_dims():
  g = jnp.array([[[0, 1]], [[2, 2]], [[3, 0]]])  # [3, L=1, N=2]
  mask = pathway.to_mask(g, 4)
  assert mask.shape == (3, 1, 4)
  np.testing.assert_array_equal(mask.sum(-1)[:, 0], [2, 1, 2])


def test_slots_weight_first_occurrence_only():
  idx, w = pathway.slots(jnp.array([[4, 1, 4, 1]]))
  np.testing.assert_array_equal(idx, [[4, 1, 4, 1]])
  np.testing.assert_array_equal(w, [[1, 1, 0, 0]])


def test_slots_add_always_active_modules_without_double_counting():
  idx, w = pathway.slots(jnp.array([[0, 1]]), jnp.array([[1, 5, 5]]),
                         jnp.array([[1.0, 1.0, 0.0]]))
  np.testing.assert_array_equal(idx, [[0, 1, 1, 5, 5]])
  np.testing.assert_array_equal(w, [[1, 1, 0, 1, 0]])
  np.testing.assert_array_equal(pathway.slots_to_mask(idx, w, 6),
                                [[1, 1, 0, 0, 0, 1]])


def test_mutation_rate_and_range_over_many_draws():
  g = jnp.full((3, 4), 10, jnp.int32)
  keys = jax.random.split(jax.random.key(1), 20000)
  out = jax.vmap(lambda k: pathway.mutate(k, g, 20))(keys)
  delta = np.asarray(out - g)
  # rate 1/(N*L) = 1/12 of elements drawn; 1/5 of those draw delta 0.
  changed = (delta != 0).mean()
  assert abs(changed - (1 / 12) * (4 / 5)) < 0.003
  assert set(np.unique(delta)) == {-2, -1, 0, 1, 2}
  counts = np.array([(delta == d).sum() for d in (-2, -1, 1, 2)])
  assert counts.min() / counts.max() > 0.9  # uniform over the non-zero steps


@pytest.mark.parametrize('boundary, expected', [('wrap', {17, 18, 19, 0, 1}),
                                                 ('clip', {17, 18, 19})])
def test_mutation_stays_in_range(boundary, expected):
  g = jnp.full((1, 1), 19, jnp.int32)
  keys = jax.random.split(jax.random.key(2), 4000)
  out = jax.vmap(lambda k: pathway.mutate(k, g, 20, rate=1.0,
                                          boundary=boundary))(keys)
  assert set(np.unique(np.asarray(out)).tolist()) == expected


def test_mutation_rejects_unknown_boundary():
  with pytest.raises(ValueError, match='wrap'):
    pathway.mutate(jax.random.key(0), jnp.zeros((1, 1), jnp.int32), 4,
                   boundary='bounce')
