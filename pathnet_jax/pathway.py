"""Pathways as integer genotypes, and the masks and slots they turn into.

A genotype is int32[L, N]: for each of the L layers, the indices of at most N
active modules out of M. A module listed twice counts once. The model consumes
either a dense mask [L, M] or "slots": the module indices [L, K] plus a weight
[L, K] that is 1 for the first occurrence of a module and 0 for repeats and
padding, so that K-wide gathers replace M-wide dense compute.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

BOUNDARIES = ('wrap', 'clip')


def random_genotypes(key: jax.Array, pop_size: int, num_layers: int,
                     max_active: int, num_modules: int) -> jax.Array:
  """Uniform random population, int32[S, L, N] with values in [0, M)."""
  return jax.random.randint(key, (pop_size, num_layers, max_active), 0,
                            num_modules, dtype=jnp.int32)


def to_mask(genotypes: jax.Array, num_modules: int) -> jax.Array:
  """int[..., L, N] -> float32[..., L, M], 1 where a module is active."""
  one_hot = jax.nn.one_hot(genotypes, num_modules, dtype=jnp.float32)
  return one_hot.max(axis=-2)


def first_occurrence(indices: jax.Array) -> jax.Array:
  """int[..., K] -> float32[..., K]: 1 where an index appears first, else 0."""
  k = indices.shape[-1]
  same = indices[..., :, None] == indices[..., None, :]  # [..., K, K]
  earlier = jnp.tril(jnp.ones((k, k), dtype=bool), k=-1)  # j < i
  repeated = jnp.any(same & earlier, axis=-1)
  return jnp.where(repeated, 0.0, 1.0).astype(jnp.float32)


def slots(genotype: jax.Array, always_active: jax.Array | None = None,
          always_active_weight: jax.Array | None = None):
  """The modules a pathway computes with, as gather indices and weights.

  Args:
    genotype: int[..., L, N] evolved module indices.
    always_active: optional int[L, F] modules added to every pathway (the
      frozen source pathway in transfer), broadcast over leading dims.
    always_active_weight: optional float[L, F]; 0 marks padding entries of
      `always_active` (layers with fewer than F frozen modules).

  Returns:
    (indices int32[..., L, K], weights float32[..., L, K]) with K = N + F;
    weights are 1 for the first occurrence of each module, 0 otherwise.
  """
  genotype = jnp.asarray(genotype, jnp.int32)
  if always_active is None:
    return genotype, first_occurrence(genotype)
  extra = jnp.broadcast_to(jnp.asarray(always_active, jnp.int32),
                           genotype.shape[:-1] + always_active.shape[-1:])
  indices = jnp.concatenate([genotype, extra], axis=-1)
  weights = first_occurrence(indices)
  if always_active_weight is not None:
    pad = jnp.broadcast_to(jnp.asarray(always_active_weight, jnp.float32),
                           extra.shape)
    keep = jnp.concatenate([jnp.ones(genotype.shape, jnp.float32), pad], -1)
    # A padding entry must not shadow a real later entry of the same module;
    # padding indices repeat a real frozen module, so dedup stays correct.
    weights = weights * keep
  return indices, weights


def slots_to_mask(indices: jax.Array, weights: jax.Array,
                  num_modules: int) -> jax.Array:
  """Slots [..., L, K] -> float32 mask [..., L, M]."""
  one_hot = jax.nn.one_hot(indices, num_modules, dtype=jnp.float32)
  return jnp.max(one_hot * weights[..., None], axis=-2)


def mutate(key: jax.Array, genotype: jax.Array, num_modules: int,
           rate: float | None = None, boundary: str = 'wrap') -> jax.Array:
  """Each element, with probability `rate`, gets a uniform integer in [-2, 2].

  Args:
    key: PRNG key.
    genotype: int[..., L, N].
    num_modules: M; the result stays in [0, M).
    rate: per-element probability; None means 1 / (N * L), the paper's.
    boundary: 'wrap' (modulo M) or 'clip' to [0, M - 1].
  """
  if boundary not in BOUNDARIES:
    raise ValueError(f'mutation boundary must be one of {BOUNDARIES}, '
                     f'got {boundary!r}')
  num_layers, max_active = genotype.shape[-2:]
  if rate is None:
    rate = 1.0 / (num_layers * max_active)
  k_hit, k_delta = jax.random.split(key)
  hit = jax.random.bernoulli(k_hit, rate, genotype.shape)
  delta = jax.random.randint(k_delta, genotype.shape, -2, 3, dtype=jnp.int32)
  moved = genotype + jnp.where(hit, delta, 0)
  if boundary == 'wrap':
    return jnp.mod(moved, num_modules).astype(jnp.int32)
  return jnp.clip(moved, 0, num_modules - 1).astype(jnp.int32)


def frozen_slots(frozen: np.ndarray | None, width: int | None = None):
  """bool[L, M] -> (indices int32[L, F], weights float32[L, F]) or None.

  F = `width`, or the most frozen modules of any layer. Padding entries
  repeat a real index with weight 0 (see pathway.slots).
  """
  if frozen is None:
    return None
  frozen = np.asarray(frozen, bool)
  width = width or max(1, int(frozen.sum(axis=1).max()))
  idx = np.zeros((frozen.shape[0], width), np.int32)
  wts = np.zeros((frozen.shape[0], width), np.float32)
  for l, row in enumerate(frozen):
    active = np.flatnonzero(row)
    if active.size:
      idx[l, :active.size], wts[l, :active.size] = active, 1.0
      idx[l, active.size:] = active[0]
  return idx, wts
