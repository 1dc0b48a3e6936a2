import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pathnet_jax import checks, model, pathway, train
import tinyconfig

NO_FROZEN = jnp.zeros((2, 6), bool)


def _setup(optimizer='sgd', weight_decay=0.0):
  cfg = tinyconfig.tiny_config()
  cfg.optim.optimizer = optimizer
  cfg.optim.weight_decay = weight_decay
  cfg.optim.learning_rate = 0.05
  x, y = tinyconfig.blobs(n=48)
  params = model.init(jax.random.key(0), cfg, 48, 3)
  return params, train.make_optimizer(cfg), jnp.asarray(x), jnp.asarray(y)


def _run(params, tx, genotypes, x, y, keys, mode, steps=3, frozen=NO_FROZEN,
         opt_state=None):
  idx, w = pathway.slots(jnp.asarray(genotypes))
  opt_state = tx.init(params) if opt_state is None else opt_state
  return train.train_pathways(params, opt_state, idx, w, x, y, keys, tx=tx,
                              frozen=frozen, num_steps=steps, batch_size=16,
                              mode=mode)


def _assert_trees_equal(a, b):
  jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


PAIR = np.array([[[0, 1], [2, 3]], [[1, 4], [3, 5]]])


def test_batch_indices_cover_every_row_once_per_pass():
  rows = np.asarray(train.batch_indices(jax.random.key(0), 48, 3, 16))
  assert rows.shape == (3, 16)
  assert sorted(rows.reshape(-1).tolist()) == list(range(48))


def test_steps_per_pathway_is_ceil_of_n_over_batch():
  assert train.steps_per_pathway(2140, 64) == 34
  assert train.steps_per_pathway(128, 64, epochs=3) == 6


def test_sequential_pair_equals_two_single_pathway_runs():
  params, tx, x, y = _setup(optimizer='momentum')
  keys = jax.random.split(jax.random.key(7), 2)
  both, both_opt, _ = _run(params, tx, PAIR, x, y, keys, 'sequential')
  p, opt, _ = _run(params, tx, PAIR[:1], x, y, keys[:1], 'sequential')
  p, opt, _ = _run(p, tx, PAIR[1:], x, y, keys[1:], 'sequential',
                   opt_state=opt)
  _assert_trees_equal(both, p)
  _assert_trees_equal(both_opt, opt)


def test_parallel_step_follows_the_summed_loss_gradient():
  params, tx, x, y = _setup()
  keys = jax.random.split(jax.random.key(3), 2)
  got, _, _ = _run(params, tx, PAIR, x, y, keys, 'parallel', steps=1)
  idx, w = pathway.slots(jnp.asarray(PAIR))
  rows = [train.batch_indices(k, 48, 1, 16)[0] for k in keys]

  def summed(p):
    return sum(train.cross_entropy(model.apply_slots(p, idx[i], w[i],
                                                     x[rows[i]]), y[rows[i]])
               for i in range(2))

  grads = jax.grad(summed)(params)
  expect = jax.tree_util.tree_map(lambda p, g: p - 0.05 * g, params, grads)
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
      got, expect)


@pytest.mark.parametrize('mode', ['sequential', 'parallel'])
def test_inactive_modules_stay_bit_identical(mode):
  params, tx, x, y = _setup(optimizer='adamw', weight_decay=0.1)
  keys = jax.random.split(jax.random.key(0), 2)
  out, _, _ = _run(params, tx, PAIR, x, y, keys, mode)
  w0_old, w0_new = np.asarray(params['layers'][0]['w']), np.asarray(
      out['layers'][0]['w'])
  np.testing.assert_array_equal(w0_new[[2, 3, 5]], w0_old[[2, 3, 5]])
  assert np.any(w0_new[[0, 1, 4]] != w0_old[[0, 1, 4]])


@pytest.mark.parametrize('optimizer', ['sgd', 'adamw'])
def test_frozen_modules_stay_bit_identical_when_active(optimizer):
  params, tx, x, y = _setup(optimizer=optimizer, weight_decay=0.01)
  frozen = NO_FROZEN.at[0, 1].set(True).at[1, 3].set(True)
  keys = jax.random.split(jax.random.key(0), 2)
  out, _, _ = _run(params, tx, PAIR, x, y, keys, 'parallel', frozen=frozen)
  for l, m in [(0, 1), (1, 3)]:
    for leaf in ('w', 'b'):
      np.testing.assert_array_equal(out['layers'][l][leaf][m],
                                    params['layers'][l][leaf][m])
  assert np.any(np.asarray(out['layers'][0]['w'][0]) !=
                np.asarray(params['layers'][0]['w'][0]))


def test_non_finite_loss_skips_the_step_and_is_counted():
  params, tx, x, y = _setup()
  x = x.at[:].set(jnp.nan)  # every batch poisoned
  keys = jax.random.split(jax.random.key(0), 2)
  out, _, stats = _run(params, tx, PAIR, x, y, keys, 'sequential')
  _assert_trees_equal(out, params)
  assert int(stats['skipped']) == 6


def test_evaluate_counts_accuracy_on_every_row_with_padding():
  params, tx, x, y = _setup()
  idx, w = pathway.slots(jnp.asarray(PAIR))
  acc, loss = train.evaluate(params, idx, w, x[:37], y[:37], batch_size=16,
                             memory_budget=1)  # 3 chunks of 16 rows
  for i in range(2):
    logits = model.apply_slots(params, idx[i], w[i], x[:37])
    expect = float((jnp.argmax(logits, -1) == y[:37]).mean())
    assert float(acc[i]) == pytest.approx(expect)
    assert float(loss[i]) == pytest.approx(
        float(train.cross_entropy(logits, y[:37])), rel=1e-5)


def test_log_probs_rows_sum_to_one():
  params, _, x, _ = _setup()
  idx, w = pathway.slots(jnp.asarray(PAIR[0]))
  lp = train.log_probs(params, idx, w, x[:21], batch_size=8)
  assert lp.shape == (21, 3)
  np.testing.assert_allclose(np.exp(lp).sum(-1), 1.0, rtol=1e-5)


def test_unknown_optimizer_is_rejected():
  cfg = tinyconfig.tiny_config()
  cfg.optim.optimizer = 'rmsprop'
  with pytest.raises(ValueError, match='optimizer'):
    checks.validate_config(cfg)


@pytest.mark.parametrize('n', [1, 2, 17, 1625, 1626, 2140])
@pytest.mark.parametrize('pad', [0, 5, 900])
def test_padded_permutation_is_jax_permutation_then_padding(n, pad):
  # 1625 -> 1626 is where jax.random.permutation's sort takes a second round.
  key = jax.random.key(3)
  got = np.asarray(jax.jit(lambda k, m: train.permutation(k, m, n + pad))(
      key, jnp.int32(n)))
  np.testing.assert_array_equal(got[:n], jax.random.permutation(key, n))
  np.testing.assert_array_equal(got[n:], np.arange(n, n + pad))


def test_padded_minibatches_are_the_unpadded_ones():
  key = jax.random.key(4)
  plain = train.batch_indices(key, 100, 7, 32)  # 3 passes over 100 rows
  padded = jax.jit(lambda k, n: train.batch_indices(
      k, n, 7, 32, size=160, max_passes=5))(key, jnp.int32(100))
  np.testing.assert_array_equal(padded, plain)
  assert int(plain.max()) < 100
