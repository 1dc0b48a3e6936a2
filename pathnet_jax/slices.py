"""Pathway slices: the few modules a pathway uses, gathered from the stacked
weights once, trained on for T steps, and scattered back once.

Training on the full stacked tensors touches all M modules at every step
(optimiser update, selection, finite check), although a pathway uses at most
K of them: on CPU that costs more than the pathway's own arithmetic. A slice
holds only the K listed modules of each layer, plus the head:

    slice = {'layers': [{'w': [K, U, d_in] | [K, kh, kw, c_in, U],
                         'b': [K, U]} x L],
             'head': params['head']}

Dense weights are transposed in the slice ([K, U, d_in] instead of the stored
[M, d_in, U]) so that the layer-1 weight gradient is the product
g.T @ x -> [K*U, d_in], which XLA:CPU runs about twice as fast as
x.T @ g -> [d_in, K*U]; the transposition happens once per gather/scatter.

Optimiser state follows the same gather/scatter, leaf by leaf, through
`optax.tree_utils.tree_map_params`: state leaves shaped like a layer's
parameters are sliced like them, the rest (e.g. Adam's step count) pass
through. A module's optimiser state therefore does not change while the
module is inactive (what PyTorch does for parameters without gradient).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import optax

Params = dict[str, Any]


def _to_slice_layout(w: jax.Array) -> jax.Array:
  return jnp.swapaxes(w, 1, 2) if w.ndim == 3 else w


def _gather_leaf(leaf: jax.Array, idx: jax.Array, is_weight: bool):
  out = jnp.take(leaf, idx, axis=0, mode='clip')
  return _to_slice_layout(out) if is_weight else out


def _scatter_leaf(full: jax.Array, part: jax.Array, idx: jax.Array,
                  write: jax.Array, is_weight: bool) -> jax.Array:
  """full[idx[k]] = part[k] where write[k]; other entries are dropped.

  Entries not written (repeats, padding, frozen modules) are sent out of
  bounds, so a module listed twice is written once and never raced.
  """
  if is_weight:
    part = _to_slice_layout(part)  # the swap is its own inverse
  target = jnp.where(write, idx, full.shape[0])
  return full.at[target].set(part.astype(full.dtype), mode='drop')


def gather(params: Params, indices: jax.Array) -> Params:
  """The slice of modules `indices` (int32[L, K]) and the head."""
  layers = [{'w': _gather_leaf(layer['w'], indices[l], True),
             'b': _gather_leaf(layer['b'], indices[l], False)}
            for l, layer in enumerate(params['layers'])]
  return {'layers': layers, 'head': params['head']}


def scatter(params: Params, part: Params, indices: jax.Array,
            write: jax.Array) -> Params:
  """Write a trained slice back: modules where write (bool[L, K]), the head."""
  layers = [{name: _scatter_leaf(layer[name], part['layers'][l][name],
                                 indices[l], write[l], name == 'w')
             for name in ('w', 'b')}
            for l, layer in enumerate(params['layers'])]
  return {'layers': layers, 'head': part['head']}


@dataclasses.dataclass(frozen=True)
class _LeafRole:
  """Where an optimiser-state leaf sits: layer l's 'w'/'b', or elsewhere
  (layer None: the head or a non-parameter leaf, kept whole)."""
  layer: int | None
  is_weight: bool = False


def _roles(tx: optax.GradientTransformation, opt_state, params: Params):
  role_params = {
      'layers': [{'w': _LeafRole(l, True), 'b': _LeafRole(l)}
                 for l in range(len(params['layers']))],
      'head': jax.tree_util.tree_map(lambda _: _LeafRole(None),
                                     params['head'])}
  return optax.tree_utils.tree_map_params(
      tx, lambda _, role: role, opt_state, role_params,
      transform_non_params=lambda _: _LeafRole(None))


def gather_opt_state(tx, opt_state, params: Params, indices: jax.Array):
  """The optimiser state of the slice `gather(params, indices)`."""
  def take(role, leaf):
    if role.layer is None:
      return leaf
    return _gather_leaf(leaf, indices[role.layer], role.is_weight)
  return jax.tree_util.tree_map(take, _roles(tx, opt_state, params), opt_state)


def scatter_opt_state(tx, opt_state, part_state, params: Params,
                      indices: jax.Array, write: jax.Array):
  """Write a slice's optimiser state back (the counterpart of `scatter`)."""
  def put(role, full, part):
    if role.layer is None:
      return part
    return _scatter_leaf(full, part, indices[role.layer], write[role.layer],
                         role.is_weight)
  return jax.tree_util.tree_map(put, _roles(tx, opt_state, params), opt_state,
                                part_state)


def union(indices: jax.Array, weights: jax.Array, capacity: int,
          num_modules: int):
  """The distinct active modules of P pathways in one layer.

  Args:
    indices, weights: [P, K] slots of one layer (weight 0 = repeat/padding).
    capacity: static size of the union (>= the number of distinct modules).
    num_modules: M; unused union entries hold M (out of range).

  Returns:
    (members int32[capacity] sorted, padded with M;
     positions int32[P, K]: where each slot's module sits in `members`).
  """
  active = jnp.where(weights > 0, indices, num_modules).reshape(-1)
  members = jnp.unique(active, size=capacity, fill_value=num_modules)
  positions = jnp.searchsorted(members, indices).astype(jnp.int32)
  return members.astype(jnp.int32), jnp.minimum(positions, capacity - 1)


def num_distinct(indices: jax.Array, weights: jax.Array) -> jax.Array:
  """int32[]: distinct modules with weight > 0 in [P, K] slots."""
  flat_i, flat_w = indices.reshape(-1), weights.reshape(-1) > 0
  same = flat_i[:, None] == flat_i[None, :]
  earlier = jnp.tril(jnp.ones(same.shape, bool), k=-1)
  # An active entry counts unless an earlier *active* entry has its module.
  repeated = jnp.any(same & earlier & flat_w[None, :], axis=1)
  return jnp.sum(flat_w & ~repeated).astype(jnp.int32)


def capacity_buckets(smallest: int, capacity: int) -> tuple[int, ...]:
  """Static union sizes to choose from: every size up to 2x the smallest,
  then steps of 1.5x, and the capacity itself (few compiled branches)."""
  smallest = max(1, min(smallest, capacity))
  sizes, b = [], smallest
  while b < capacity:
    sizes.append(b)
    b = b + 1 if b < 2 * smallest else int(math.ceil(b * 1.5))
  return tuple(sizes) + (capacity,)
