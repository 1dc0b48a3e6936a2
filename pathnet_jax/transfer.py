"""Transfer between tasks: freeze the best source pathway, re-initialise the
rest, and pool several source tasks into one."""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from pathnet_jax import model as model_lib
from pathnet_jax import pathway


def freeze(params_source, best_genotype, config, *, key: jax.Array | None = None,
           num_classes: int | None = None, previously_frozen=None):
  """Keep the best source pathway's modules; re-initialise everything else.

  Args:
    params_source: parameters after evolution on the source task.
    best_genotype: int[L, N], the source's best pathway.
    config: the run config (`model` section; `seed` used when key is None).
    key: PRNG key for the re-initialisation.
    num_classes: width of the new target head (default: the source head's).
    previously_frozen: optional bool[L, M] frozen by an earlier task; those
      modules stay frozen too (chains of transfers).

  Returns:
    (frozen bool[L, M], params_target) where frozen modules hold the source
    weights bit for bit and every other module and the head are fresh.
  """
  if key is None:
    key = jax.random.key(int(config.seed) + 1)
  m = params_source['layers'][0]['w'].shape[0]
  frozen = np.asarray(pathway.to_mask(jnp.asarray(best_genotype), m)) > 0
  if previously_frozen is not None:
    frozen |= np.asarray(previously_frozen, bool)
  c = num_classes or params_source['head']['w'].shape[1]
  fresh = model_lib.init_like(key, params_source, c)
  layers = []
  for l, (old, new) in enumerate(zip(params_source['layers'], fresh['layers'])):
    keep = frozen[l]
    layers.append(jax.tree_util.tree_map(
        lambda o, n, keep=keep: jnp.where(
            keep.reshape((-1,) + (1,) * (o.ndim - 1)), o, n), old, new))
  return frozen, {'layers': layers, 'head': fresh['head']}


def new_head(params_source, key: jax.Array, num_classes: int):
  """The fine-tuning start: every module's source weights, a fresh head
  (skip path included) of `num_classes`; nothing frozen."""
  fresh = model_lib.init_like(key, params_source, num_classes)
  return {'layers': params_source['layers'], 'head': fresh['head']}


def pool_sources(sources: Sequence[tuple[np.ndarray, np.ndarray,
                                         Sequence[str]]]):
  """Pool several labelled sets into one source task over the union of classes.

  Args:
    sources: (x [n_i, ...], y int[n_i], class_names) per source corpus.

  Returns:
    (x [sum n_i, ...], y int32[sum n_i], class_names) with class names in
    first-seen order and labels remapped onto them.
  """
  names: list[str] = []
  for _, _, cn in sources:
    names += [c for c in cn if c not in names]
  xs, ys = [], []
  for x, y, cn in sources:
    remap = np.array([names.index(c) for c in cn], np.int32)
    xs.append(np.asarray(x))
    ys.append(remap[np.asarray(y)])
  return np.concatenate(xs), np.concatenate(ys).astype(np.int32), tuple(names)
