import jax
import numpy as np

from pathnet_jax import model, transfer
import tinyconfig


def test_freeze_keeps_best_pathway_and_reinitialises_the_rest():
  cfg = tinyconfig.tiny_config()
  src = model.init(jax.random.key(0), cfg, 48, 3)
  best = np.array([[1, 4], [0, 0]])
  frozen, tgt = transfer.freeze(src, best, cfg, key=jax.random.key(1),
                                num_classes=5)
  expect = np.zeros((2, 6), bool)
  expect[0, [1, 4]] = True
  expect[1, 0] = True
  np.testing.assert_array_equal(frozen, expect)
  for l in range(2):
    w_src, w_tgt = np.asarray(src['layers'][l]['w']), np.asarray(
        tgt['layers'][l]['w'])
    np.testing.assert_array_equal(w_tgt[frozen[l]], w_src[frozen[l]])
    assert np.all(np.any(w_tgt[~frozen[l]] != w_src[~frozen[l]], axis=(1, 2)))
  assert tgt['head']['w'].shape == (8, 5)


def test_freeze_accumulates_earlier_frozen_modules():
  cfg = tinyconfig.tiny_config()
  src = model.init(jax.random.key(0), cfg, 48, 3)
  earlier = np.zeros((2, 6), bool)
  earlier[1, 5] = True
  frozen, _ = transfer.freeze(src, np.array([[0, 1], [2, 3]]), cfg,
                              previously_frozen=earlier)
  assert frozen[1, 5] and frozen[0, 0] and frozen.sum() == 5


def test_pool_sources_unions_class_names_and_remaps_labels():
  x1, y1 = np.zeros((3, 2)), np.array([0, 1, 1])
  x2, y2 = np.ones((2, 2)), np.array([0, 1])
  x, y, names = transfer.pool_sources([(x1, y1, ('anger', 'sadness')),
                                       (x2, y2, ('sadness', 'fear'))])
  assert names == ('anger', 'sadness', 'fear')
  np.testing.assert_array_equal(y, [0, 1, 1, 1, 2])
  assert x.shape == (5, 2)
