"""PathNet with stacked module weights: one array per layer holds all M modules.

    params = {'layers': [{'w': [M, d_in, U], 'b': [M, U]}, ...  (L layers)],
              'head': {'w': [U, C], 'b': [C]}}

A layer's output is the mean (or, as in the original PathNet, the sum) of the
ReLU outputs of its active modules. Two ways to compute the same thing:
  * 'dense': all M modules on the batch, masked afterwards ([L, M] mask);
  * 'gather': only the K listed modules, gathered from the stack ([L, K] slots).
Which is faster depends on the device; experiments/benchmark.py measures both.
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from pathnet_jax import pathway

Params = dict[str, Any]
AGGREGATES = ('mean', 'sum')
COMPUTES = ('gather', 'dense')


def _module_init(key, num_modules, d_in, units):
  # He-normal per module: fan-in d_in, batched over the module axis.
  init = jax.nn.initializers.variance_scaling(
      2.0, 'fan_in', 'truncated_normal', in_axis=-2, out_axis=-1,
      batch_axis=(0,))
  return {'w': init(key, (num_modules, d_in, units), jnp.float32),
          'b': jnp.zeros((num_modules, units), jnp.float32)}


def init_head(key: jax.Array, units: int, num_classes: int) -> Params:
  """A task's linear head, [U] -> [C]."""
  init = jax.nn.initializers.lecun_normal()
  return {'w': init(key, (units, num_classes), jnp.float32),
          'b': jnp.zeros((num_classes,), jnp.float32)}


def init(key: jax.Array, config, input_dim: int, num_classes: int) -> Params:
  """Stacked-module PathNet parameters.

  Args:
    key: PRNG key.
    config: ConfigDict with `model.num_layers`, `model.num_modules`,
      `model.module_units` (or the same names at top level).
    input_dim: size of one flattened example (64*64*3 for the paper).
    num_classes: C, the task head's width.
  """
  mc = config.model if 'model' in config else config
  keys = jax.random.split(key, mc.num_layers + 1)
  layers, d_in = [], int(input_dim)
  for l in range(mc.num_layers):
    layers.append(_module_init(keys[l], mc.num_modules, d_in, mc.module_units))
    d_in = mc.module_units
  return {'layers': layers,
          'head': init_head(keys[-1], mc.module_units, num_classes)}


def num_modules(params: Params) -> int:
  return int(params['layers'][0]['w'].shape[0])


def _normalise(total, count, aggregate):
  if aggregate == 'mean':
    return total / jnp.maximum(count, 1.0)
  if aggregate == 'sum':
    return total
  raise ValueError(f'aggregate must be one of {AGGREGATES}, got {aggregate!r}')


def dense_layer_masked(layer: Params, mask: jax.Array, h: jax.Array,
                       aggregate: str) -> jax.Array:
  """All modules on [B, d_in], masked by [M] -> [B, U]."""
  out = jax.nn.relu(jnp.einsum('bd,mdu->bmu', h, layer['w']) + layer['b'])
  return _normalise(jnp.einsum('bmu,m->bu', out, mask), mask.sum(), aggregate)


def dense_layer_gathered(layer: Params, indices: jax.Array,
                         weights: jax.Array, h: jax.Array,
                         aggregate: str) -> jax.Array:
  """Only the K listed modules on [B, d_in] -> [B, U]."""
  w = jnp.take(layer['w'], indices, axis=0)  # [K, d_in, U]
  b = jnp.take(layer['b'], indices, axis=0)  # [K, U]
  out = jax.nn.relu(jnp.einsum('bd,kdu->bku', h, w) + b)
  return _normalise(jnp.einsum('bku,k->bu', out, weights), weights.sum(),
                    aggregate)


def _dropout(key, h, rate):
  keep = jax.random.bernoulli(key, 1.0 - rate, h.shape)
  return jnp.where(keep, h / (1.0 - rate), 0.0)


def features(params: Params, indices: jax.Array, weights: jax.Array,
             x: jax.Array, *, aggregate: str = 'mean', compute: str = 'gather',
             dropout_rate: float = 0.0, key: jax.Array | None = None):
  """The last layer's [B, U] activations of the pathway given by slots."""
  if compute not in COMPUTES:
    raise ValueError(f'compute must be one of {COMPUTES}, got {compute!r}')
  h = x.reshape(x.shape[0], -1)
  m = num_modules(params)
  for l, layer in enumerate(params['layers']):
    if dropout_rate > 0.0 and key is not None:
      h = _dropout(jax.random.fold_in(key, l), h, dropout_rate)
    if compute == 'gather':
      h = dense_layer_gathered(layer, indices[l], weights[l], h, aggregate)
    else:
      mask = pathway.slots_to_mask(indices[l], weights[l], m)
      h = dense_layer_masked(layer, mask, h, aggregate)
  return h


def head_apply(head: Params, h: jax.Array) -> jax.Array:
  return h @ head['w'] + head['b']


def apply_slots(params: Params, indices: jax.Array, weights: jax.Array,
                x: jax.Array, **kwargs) -> jax.Array:
  """Logits [B, C] of the pathway given as slots (indices/weights [L, K])."""
  return head_apply(params['head'],
                    features(params, indices, weights, x, **kwargs))


def apply(params: Params, mask: jax.Array, x: jax.Array, *,
          aggregate: str = 'mean') -> jax.Array:
  """Logits [B, C] of the pathway given by a mask [L, M] on inputs [B, ...].

  Active modules' ReLU outputs are averaged ('mean', the paper) or summed
  ('sum', the original PathNet); a layer with no active module outputs zeros.
  """
  h = x.reshape(x.shape[0], -1)
  for l, layer in enumerate(params['layers']):
    h = dense_layer_masked(layer, mask[l], h, aggregate)
  return head_apply(params['head'], h)


def input_dim(example_shape) -> int:
  return int(math.prod(example_shape))
