"""Slice-local training: gather a pathway's modules once, scatter once."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from pathnet_jax import model, pathway, slices, train
import tinyconfig


def _params():
  return model.init(jax.random.key(0), tinyconfig.tiny_config(), 48, 3)


def test_gather_transposes_dense_weights_to_module_unit_input():
  params = _params()
  part = slices.gather(params, jnp.array([[4, 1], [0, 0]]))
  assert part['layers'][0]['w'].shape == (2, 8, 48)
  np.testing.assert_array_equal(part['layers'][0]['w'][0],
                                params['layers'][0]['w'][4].T)
  np.testing.assert_array_equal(part['layers'][1]['b'][1],
                                params['layers'][1]['b'][0])


def test_scatter_writes_only_flagged_slots_once():
  params = _params()
  idx = jnp.array([[2, 2], [5, 1]])
  part = jax.tree_util.tree_map(lambda a: a + 1.0, slices.gather(params, idx))
  write = jnp.array([[True, False], [False, True]])
  out = slices.scatter(params, part, idx, write)
  w0, old0 = np.asarray(out['layers'][0]['w']), np.asarray(
      params['layers'][0]['w'])
  np.testing.assert_allclose(w0[2], old0[2] + 1.0)  # the first copy, once
  np.testing.assert_array_equal(np.delete(w0, 2, 0), np.delete(old0, 2, 0))
  np.testing.assert_array_equal(out['layers'][1]['w'][5],
                                params['layers'][1]['w'][5])
  np.testing.assert_allclose(out['layers'][1]['b'][1],
                             params['layers'][1]['b'][1] + 1.0)


def test_optimizer_state_follows_the_parameters_leaf_by_leaf():
  params = _params()
  tx = optax.adamw(0.1)
  state = jax.tree_util.tree_map(lambda a: a + 0.5, tx.init(params))
  idx = jnp.array([[3, 0], [1, 2]])
  part_state = slices.gather_opt_state(tx, state, params, idx)
  mu = part_state[0].mu
  assert mu['layers'][0]['w'].shape == (2, 8, 48)
  assert int(part_state[0].count) == int(state[0].count)
  bumped = jax.tree_util.tree_map(lambda a: a + 1, part_state)
  write = jnp.ones((2, 2), bool)
  back = slices.scatter_opt_state(tx, state, bumped, params, idx, write)
  np.testing.assert_allclose(back[0].mu['layers'][0]['w'][3],
                             state[0].mu['layers'][0]['w'][3] + 1)
  np.testing.assert_array_equal(back[0].nu['layers'][0]['w'][5],
                                state[0].nu['layers'][0]['w'][5])
  assert int(back[0].count) == int(state[0].count) + 1


def test_union_lists_distinct_active_modules_and_remaps_slots():
  idx = jnp.array([[4, 1, 4], [1, 3, 0]])
  w = jnp.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])  # 0 = repeat/padding
  members, pos = slices.union(idx, w, capacity=5, num_modules=6)
  np.testing.assert_array_equal(members, [1, 3, 4, 6, 6])
  np.testing.assert_array_equal(np.asarray(members)[np.asarray(pos[:, :2])],
                                np.asarray(idx[:, :2]))
  assert int(slices.num_distinct(idx, w)) == 3


def test_capacity_buckets_end_at_the_capacity():
  assert slices.capacity_buckets(4, 8) == (4, 5, 6, 7, 8)
  assert slices.capacity_buckets(4, 20) == (4, 5, 6, 7, 8, 12, 18, 20)
  assert slices.capacity_buckets(4, 3) == (3,)


# ---------------------------------------------------------------------------
# Equivalence with the full-tensor reference (plain SGD, the paper's config)

def _reference_train(params, masks, trainable, x, y, rows, lr):
  """The stacked-tensor training the slices replace, written plainly:
  per pathway and step, the gradient of model.apply (mask over all M
  modules) w.r.t. every parameter; SGD moves the trainable modules and the
  head. `masks` [P, L, M]; `trainable` [P, L, M]; `rows` [P, T, B]."""
  for p in range(masks.shape[0]):
    for r in rows[p]:
      grads = jax.grad(lambda q: train.cross_entropy(
          model.apply(q, masks[p], x[r]), y[r]))(params)
      layers = []
      for l, (layer, g) in enumerate(zip(params['layers'], grads['layers'])):
        keep = trainable[p, l]
        layers.append({k: jnp.where(keep.reshape((-1,) + (1,) * (v.ndim - 1)),
                                    v - lr * g[k], v)
                       for k, v in layer.items()})
      head = jax.tree_util.tree_map(lambda v, g: v - lr * g, params['head'],
                                    grads['head'])
      params = {'layers': layers, 'head': head}
  return params


def _close(a, b):
  jax.tree_util.tree_map(
      lambda u, v: np.testing.assert_allclose(u, v, rtol=2e-5, atol=2e-6),
      a, b)


FROZEN = np.zeros((2, 6), bool)
FROZEN[0, 5] = FROZEN[1, 2] = True


@pytest.mark.parametrize('always_active', [False, True])
def test_sequential_sgd_equals_the_full_tensor_reference(always_active):
  cfg = tinyconfig.tiny_config()
  cfg.optim.learning_rate = 0.05
  params, tx = _params(), train.make_optimizer(cfg)
  x, y = tinyconfig.blobs(n=48)
  x, y = jnp.asarray(x), jnp.asarray(y)
  genotypes = jnp.array([[[0, 0], [2, 3]], [[5, 1], [4, 4]]])  # repeats,
  fixed = (jnp.array([[5], [2]]), jnp.ones((2, 1))) if always_active else (
      None, None)                                              # a frozen one
  idx, w = pathway.slots(genotypes, *fixed)
  keys = jax.random.split(jax.random.key(3), 2)
  got, _, _ = train.train_pathways(
      params, tx.init(params), idx, w, x, y, keys, tx=tx, frozen=FROZEN,
      num_steps=3, batch_size=16, num_fixed=1 if always_active else 0)
  masks = pathway.slots_to_mask(idx, w, 6)
  rows = [train.batch_indices(k, 48, 3, 16) for k in keys]
  expect = _reference_train(params, masks, (masks > 0) & ~FROZEN, x, y, rows,
                            0.05)
  _close(got, expect)
  np.testing.assert_array_equal(got['layers'][0]['w'][5],
                                params['layers'][0]['w'][5])


@pytest.mark.parametrize('num_pathways', [2, 3])  # union 4 < M; 6 = M: full
def test_parallel_sgd_equals_the_summed_gradient_reference(num_pathways):
  cfg = tinyconfig.tiny_config()
  cfg.optim.learning_rate = 0.05
  params, tx = _params(), train.make_optimizer(cfg)
  x, y = tinyconfig.blobs(n=48)
  x, y = jnp.asarray(x), jnp.asarray(y)
  genotypes = jnp.array([[[0, 0], [2, 3]], [[5, 1], [3, 4]],
                         [[2, 4], [0, 1]]])[:num_pathways]
  idx, w = pathway.slots(genotypes)
  keys = jax.random.split(jax.random.key(5), num_pathways)
  got, _, _ = train.train_pathways(
      params, tx.init(params), idx, w, x, y, keys, tx=tx, frozen=FROZEN,
      num_steps=2, batch_size=16, mode='parallel')
  masks = pathway.slots_to_mask(idx, w, 6)
  rows = jnp.stack([train.batch_indices(k, 48, 2, 16) for k in keys])
  expect = params
  for t in range(2):
    grads = jax.grad(lambda q: sum(train.cross_entropy(
        model.apply(q, masks[p], x[rows[p, t]]), y[rows[p, t]])
        for p in range(num_pathways)))(expect)
    keep = jnp.any(masks > 0, axis=0) & ~FROZEN
    expect = {'layers': [
        {k: jnp.where(keep[l].reshape((-1,) + (1,) * (v.ndim - 1)),
                      v - 0.05 * grads['layers'][l][k], v)
         for k, v in layer.items()} for l, layer in enumerate(expect['layers'])],
              'head': jax.tree_util.tree_map(lambda v, g: v - 0.05 * g,
                                             expect['head'], grads['head'])}
  _close(got, expect)


def test_momentum_of_an_inactive_module_is_left_as_it_was():
  cfg = tinyconfig.tiny_config()
  cfg.optim.optimizer = 'momentum'
  params, tx = _params(), train.make_optimizer(cfg)
  x, y = tinyconfig.blobs(n=48)
  state = jax.tree_util.tree_map(lambda a: a + 0.25, tx.init(params))
  idx, w = pathway.slots(jnp.array([[[0, 1], [2, 3]]]))
  _, out, _ = train.train_pathways(
      params, state, idx, w, jnp.asarray(x), jnp.asarray(y),
      jax.random.split(jax.random.key(0), 1), tx=tx, frozen=FROZEN,
      num_steps=2, batch_size=16)
  trace_old = np.asarray(state[0].trace['layers'][0]['w'])
  trace_new = np.asarray(out[0].trace['layers'][0]['w'])
  np.testing.assert_array_equal(trace_new[2:], trace_old[2:])
  assert np.all(np.any(trace_new[:2] != trace_old[:2], axis=(1, 2)))


@pytest.mark.parametrize('genotypes', [
    [[[0, 1], [2, 3]], [[0, 1], [2, 3]]],  # identical pair: smallest union
    [[[0, 1], [2, 3]], [[2, 1], [2, 5]]],  # overlapping
    [[[0, 1], [2, 3]], [[2, 4], [3, 5]]],  # disjoint layer 1
])
@pytest.mark.parametrize('compute', ['gather', 'dense'])
def test_evaluate_equals_each_pathway_on_its_own(genotypes, compute):
  params = _params()
  x, y = tinyconfig.blobs(n=40)
  idx, w = pathway.slots(jnp.asarray(genotypes))
  acc, loss = train.evaluate(params, idx, w, jnp.asarray(x), jnp.asarray(y),
                             compute=compute)
  for p in range(2):
    logits = model.apply_slots(params, idx[p], w[p], jnp.asarray(x))
    assert float(acc[p]) == pytest.approx(
        float((jnp.argmax(logits, -1) == y).mean()))
    assert float(loss[p]) == pytest.approx(
        float(train.cross_entropy(logits, jnp.asarray(y))), rel=1e-5)


def test_layer1_input_is_the_pooled_flat_view_apply_would_take():
  cfg = tinyconfig.tiny_config()
  cfg.model.input_view = 'time_pooled'
  x = jax.random.normal(jax.random.key(1), (5, 4, 4, 3))
  params = model.init(jax.random.key(0), cfg, (4, 4, 3), 3)
  view = model.layer1_input(params, x)
  assert view.shape == (5, 4 * 2 * 3)
  idx, w = pathway.slots(jnp.array([[0, 3], [2, 2]]))
  np.testing.assert_allclose(model.apply_slots(params, idx, w, view),
                             model.apply_slots(params, idx, w, x), rtol=1e-6)
