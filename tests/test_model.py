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


def _conv_params(aggregate_units=4):
  cfg = tinyconfig.tiny_config()
  cfg.model.module_type = 'conv'
  cfg.model.module_units = aggregate_units
  return model.init(jax.random.key(0), cfg, (8, 8, 3), 3)


def test_conv_modules_have_stacked_kernels():
  params = _conv_params()
  assert params['layers'][0]['w'].shape == (6, 3, 3, 3, 4)
  assert params['layers'][1]['w'].shape == (6, 3, 3, 4, 4)
  assert params['head']['w'].shape == (4, 3)


def test_conv_layer_mean_equals_per_module_convolutions():
  params = _conv_params()
  x = jax.random.normal(jax.random.key(2), (2, 8, 8, 3))
  layer = params['layers'][0]
  idx, w = pathway.slots(jnp.array([[1, 4, 1]]))
  got = model.conv_layer_gathered(layer, idx[0], w[0], x, 'mean')
  outs = []
  for m in (1, 4):
    y = jax.lax.conv_general_dilated(
        x, layer['w'][m], (2, 2), 'SAME',
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    outs.append(jax.nn.relu(y + layer['b'][m]))
  np.testing.assert_allclose(got, (outs[0] + outs[1]) / 2, rtol=1e-5,
                             atol=1e-5)


def test_conv_slots_match_mask_apply_and_idle_modules_get_no_gradient():
  params = _conv_params()
  x = jax.random.normal(jax.random.key(2), (2, 8, 8, 3))
  g = jnp.array([[0, 2], [5, 5]])
  idx, w = pathway.slots(g)
  np.testing.assert_allclose(model.apply_slots(params, idx, w, x),
                             model.apply(params, pathway.to_mask(g, 6), x),
                             rtol=1e-5, atol=1e-5)
  grads = jax.grad(lambda p: model.apply_slots(p, idx, w, x).sum())(params)
  assert np.all(np.asarray(grads['layers'][0]['w'])[[1, 3, 4, 5]] == 0)


def test_init_like_keeps_shapes_and_draws_new_values():
  params = _conv_params()
  fresh = model.init_like(jax.random.key(5), params, 7)
  assert fresh['layers'][1]['w'].shape == params['layers'][1]['w'].shape
  assert fresh['head']['w'].shape == (4, 7)
  assert np.any(fresh['layers'][0]['w'] != params['layers'][0]['w'])


def test_time_pooled_view_is_mean_and_std_over_frames():
  x = jnp.arange(2 * 3 * 4 * 2, dtype=jnp.float32).reshape(2, 3, 4, 2)
  v = model.input_view(x, 'time_pooled')
  assert v.shape == (2, 3, 2, 2)
  np.testing.assert_allclose(v[:, :, 0], np.asarray(x).mean(2))
  np.testing.assert_allclose(v[:, :, 1], np.asarray(x).std(2), rtol=1e-6)
  with pytest.raises(ValueError, match='view'):
    model.input_view(x, 'spectral')


def test_time_stats_view_adds_min_and_max_over_frames():
  x = jnp.arange(2 * 3 * 4 * 2, dtype=jnp.float32).reshape(2, 3, 4, 2) ** 2
  v = np.asarray(model.input_view(x, 'time_stats'))
  assert v.shape == (2, 3, 4, 2)
  np.testing.assert_allclose(v[:, :, :2],
                             np.asarray(model.input_view(x, 'time_pooled')))
  np.testing.assert_array_equal(v[:, :, 2], np.asarray(x).min(2))
  np.testing.assert_array_equal(v[:, :, 3], np.asarray(x).max(2))


@pytest.mark.parametrize('view, stats', [('time_pooled', 2), ('time_stats', 4)])
def test_time_pooled_modules_pool_inside_apply(view, stats):
  cfg = tinyconfig.tiny_config()
  cfg.model.input_view = view
  params = model.init(jax.random.key(0), cfg, (4, 5, 3), 3)
  assert params['layers'][0]['w'].shape == (6, 4 * stats * 3, 8)
  x = jax.random.normal(jax.random.key(1), (2, 4, 5, 3))
  mask = pathway.to_mask(jnp.array([[0, 1], [2, 3]]), 6)
  pooled = model.input_view(x, view)
  np.testing.assert_allclose(model.apply(params, mask, x),
                             _numpy_forward(params, mask, pooled, 'mean'),
                             rtol=1e-5, atol=1e-5)
