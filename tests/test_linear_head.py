"""Issue 35: the pieces of a tuned linear SVM a pathway can use — a linear
path from layer 1's view to the head (model.head_skip), the head's L2
penalty (optim.head_l2) and the hinge loss (optim.loss)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from pathnet_jax import checks
from pathnet_jax import model
from pathnet_jax import pathway
from pathnet_jax import train
from pathnet_jax import transfer
import tinyconfig

GENOTYPE = jnp.array([[0, 1], [2, 3]], jnp.int32)


def _skip_config():
  cfg = tinyconfig.tiny_config()
  cfg.model.head_skip = True
  return cfg


def _params_with_skip(seed=1):
  """Tiny PathNet on 48 inputs, 3 classes, its skip weights set non-zero."""
  params = model.init(jax.random.key(0), _skip_config(), 48, 3)
  skip = jax.random.normal(jax.random.key(seed), params['head']['skip'].shape)
  return {**params, 'head': {**params['head'], 'skip': skip}}


def test_head_skip_adds_zero_initialised_input_weights_to_the_head():
  params = model.init(jax.random.key(0), _skip_config(), 48, 3)
  assert params['head']['skip'].shape == (48, 3)
  assert not np.any(np.asarray(params['head']['skip']))
  plain = model.init(jax.random.key(0), tinyconfig.tiny_config(), 48, 3)
  assert 'skip' not in plain['head']


def test_skip_logits_are_the_scaled_linear_map_of_the_inputs():
  params = _params_with_skip()
  x = jax.random.normal(jax.random.key(2), (5, 4, 4, 3))
  idx, w = pathway.slots(GENOTYPE)
  without = {**params, 'head': {k: v for k, v in params['head'].items()
                                if k != 'skip'}}
  got = model.apply_slots(params, idx, w, x)
  expected = (model.apply_slots(without, idx, w, x) +
              x.reshape(5, 48) @ params['head']['skip'] / math.sqrt(48))
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_evaluate_scores_the_skip_path_as_apply_does():
  params = _params_with_skip()
  x = jax.random.normal(jax.random.key(3), (20, 48))
  y = jnp.arange(20, dtype=jnp.int32) % 3
  idx, w = pathway.slots(jnp.stack([GENOTYPE, GENOTYPE[::-1]]))
  acc, loss = train.evaluate(params, idx, w, x, y)
  for p in range(2):
    logits = model.apply_slots(params, idx[p], w[p], x)
    np.testing.assert_allclose(
        acc[p], np.mean(np.argmax(logits, -1) == y), atol=1e-6)
    np.testing.assert_allclose(
        loss[p], train.cross_entropy(logits, y), rtol=1e-5)


def test_hinge_loss_is_the_crammer_singer_margin():
  logits = jnp.array([[2.0, 0.5, 1.5], [0.0, 3.0, 0.0]])
  labels = jnp.array([0, 2])
  # Row 0: max(0, 1 + 1.5 - 2) = 0.5; row 1: 1 + 3 - 0 = 4.
  got = train.training_loss(logits, labels, {'w': jnp.zeros(1)},
                            loss='hinge')
  np.testing.assert_allclose(got, (0.5 + 4.0) / 2, rtol=1e-6)


def test_head_l2_penalises_the_head_weights_but_not_its_bias():
  logits = jnp.zeros((2, 3))
  labels = jnp.array([0, 1])
  head = {'w': jnp.full((2, 3), 2.0), 'b': jnp.full((3,), 100.0),
          'skip': jnp.ones((4, 3))}
  base = train.training_loss(logits, labels, head)
  got = train.training_loss(logits, labels, head, head_l2=0.1)
  np.testing.assert_allclose(got - base, 0.5 * 0.1 * (6 * 4.0 + 12 * 1.0),
                             rtol=1e-5)
  np.testing.assert_allclose(base, math.log(3), rtol=1e-6)


def test_head_l2_shrinks_the_skip_weights_during_training():
  cfg = _skip_config()
  x, y = tinyconfig.blobs(n=48)
  params = model.init(jax.random.key(0), cfg, 48, 3)
  tx = optax.sgd(0.05)
  idx, w = pathway.slots(GENOTYPE[None])
  norms = []
  for head_l2 in (0.0, 1.0):
    out, _, _ = train.train_pathways(
        params, tx.init(params), idx, w, jnp.asarray(x), jnp.asarray(y),
        jax.random.split(jax.random.key(4), 1), tx=tx,
        frozen=np.zeros((2, 6), bool), num_steps=20, batch_size=16,
        head_l2=head_l2)
    norms.append(float(jnp.linalg.norm(out['head']['skip'])))
  assert norms[0] > 0
  assert norms[1] < 0.8 * norms[0]


def test_transfer_gives_the_target_a_fresh_zero_skip_for_its_classes():
  params = _params_with_skip()
  frozen, target = transfer.freeze(params, GENOTYPE, _skip_config(),
                                   key=jax.random.key(5), num_classes=5)
  assert target['head']['skip'].shape == (48, 5)
  assert not np.any(np.asarray(target['head']['skip']))
  assert frozen.sum() == 4


@pytest.mark.parametrize('field, value, message', [
    ('optim.loss', 'svm', 'optim.loss must be one of'),
    ('optim.head_l2', -1.0, 'optim.head_l2 must be finite and >= 0'),
])
def test_bad_objective_settings_are_refused_naming_the_field(field, value,
                                                            message):
  cfg = tinyconfig.tiny_config()
  section, name = field.split('.')
  cfg[section][name] = value
  with pytest.raises(ValueError, match=message):
    checks.validate_config(cfg)


def test_a_skip_path_with_conv_modules_is_refused():
  cfg = _skip_config()
  cfg.model.module_type = 'conv'
  with pytest.raises(ValueError, match='model.head_skip'):
    checks.validate_config(cfg)
