import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pathnet_jax import model, pathway
import tinyconfig


def _numpy_forward(params, mask, x, aggregate):
  h = np.asarray(x).reshape(x.shape[0], -1)
  for l, layer in enumerate(params['layers']):
    w, b, m = np.asarray(layer['w']), np.asarray(layer['b']), np.asarray(mask[l])
    outs = [np.maximum(h @ w[i] + b[i], 0) for i in range(w.shape[0]) if m[i]]
    h = np.sum(outs, 0)
    if aggregate == 'mean':
      h = h / len(outs)
  return h @ np.asarray(params['head']['w']) + np.asarray(params['head']['b'])


def _params_and_x():
  cfg = tinyconfig.tiny_config()
  params = model.init(jax.random.key(0), cfg, 48, 3)
  x = jax.random.normal(jax.random.key(1), (5, 4, 4, 3))
  return cfg, params, x


def test_init_stacks_modules_per_layer():
  _, params, _ = _params_and_x()
  assert params['layers'][0]['w'].shape == (6, 48, 8)
  assert params['layers'][1]['w'].shape == (6, 8, 8)
  assert params['layers'][0]['b'].shape == (6, 8)
  assert params['head']['w'].shape == (8, 3)


@pytest.mark.parametrize('aggregate', ['mean', 'sum'])
def test_apply_equals_numpy_layer_means(aggregate):
  _, params, x = _params_and_x()
  mask = pathway.to_mask(jnp.array([[0, 3], [2, 2]]), 6)
  got = model.apply(params, mask, x, aggregate=aggregate)
  np.testing.assert_allclose(got, _numpy_forward(params, mask, x, aggregate),
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('compute', ['gather', 'dense'])
def test_slots_paths_match_mask_apply(compute):
  _, params, x = _params_and_x()
  g = jnp.array([[5, 1], [0, 0]])
  idx, w = pathway.slots(g)
  expect = model.apply(params, pathway.to_mask(g, 6), x)
  got = model.apply_slots(params, idx, w, x, compute=compute)
  np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-5)


def test_inactive_modules_get_zero_gradient():
  _, params, x = _params_and_x()
  idx, w = pathway.slots(jnp.array([[0, 3], [2, 4]]))
  grads = jax.grad(lambda p: model.apply_slots(p, idx, w, x).sum())(params)
  g0 = np.asarray(grads['layers'][0]['w'])
  assert np.all(g0[[1, 2, 4, 5]] == 0)
  assert np.any(g0[0] != 0) and np.any(g0[3] != 0)


def test_unknown_aggregate_is_rejected():
  _, params, x = _params_and_x()
  with pytest.raises(ValueError, match='aggregate'):
    model.apply(params, jnp.ones((2, 6)), x, aggregate='max')
