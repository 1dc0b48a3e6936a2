"""PathNet with stacked module weights: one array per layer holds all M modules.

    params = {'layers': [{'w': [M, d_in, U], 'b': [M, U]}, ...  (L layers)],
              'head': {'w': [U, C], 'b': [C]}}
                       (+ 'skip': [d_in, C] with model.head_skip)

Module types (`config.model.module_type`; the pathway, GA and transfer code
is the same for all, only the module function differs):
  * 'dense' (the paper): Dense(U) + ReLU on the flattened input.
  * 'conv': a 3x3 convolution with U output channels, stride 2, + ReLU over
    the mel x time plane (as the original PathNet's Atari modules); weights
    [M, 3, 3, c_in, U]; the last layer is averaged over the plane.
  * 'dense' with `model.input_view='time_pooled'`: layer-1 modules see, per
    mel band and channel, the mean and std over the segment's frames
    ([H, 2, C] = 384 inputs instead of 12288; position-invariant in time).
Module type and view are read from the weights' shapes, so `apply` needs no
flag and a saved model carries them.

A layer's output is the mean (or, as in the original PathNet, the sum) of the
ReLU outputs of its active modules. Two ways to compute the same thing:
  * 'dense': all M modules on the batch, masked afterwards ([L, M] mask);
  * 'gather': only the K listed modules, gathered from the stack ([L, K] slots).
Which is faster depends on the device; experiments/benchmark.py measures both.

`model.head_skip` (issue 35) adds a linear path from layer 1's input view to
the task head: logits = head(pathway features) + x1 @ skip / sqrt(d_in). The
skip weights belong to the head (one per task, trained with every pathway,
re-initialised on transfer), start at zero, and with an L2 penalty and the
hinge loss (train.py) make the head contain a linear SVM over the view; the
pathway adds what a linear model of the inputs cannot. The 1/sqrt(d_in)
scale keeps the skip's step size that of a module under the same optimiser.
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from pathnet_jax import pathway
from pathnet_jax import slices

Params = dict[str, Any]
AGGREGATES = ('mean', 'sum')
COMPUTES = ('gather', 'dense')


MODULE_TYPES = ('dense', 'conv')
CONV_KERNEL = 3
CONV_STRIDE = 2


def _module_init(key, shape):
  """He-normal stacked weights [M, ..., U] (fan-in: all but the M and U axes)
  and zero biases [M, U]."""
  init = jax.nn.initializers.variance_scaling(
      2.0, 'fan_in', 'truncated_normal', in_axis=tuple(range(1, len(shape) - 1)),
      out_axis=-1, batch_axis=(0,))
  return {'w': init(key, shape, jnp.float32),
          'b': jnp.zeros((shape[0], shape[-1]), jnp.float32)}


def _layer_shapes(mc, input_shape):
  """Weight shapes [M, ..., U] of each layer for an example shape."""
  module_type = mc.module_type  # checked by checks.validate_config
  m, u = mc.num_modules, mc.module_units
  view = mc.input_view
  flat = len(input_shape) == 1  # rows the caller made (e.g. functionals):
  if view not in INPUT_VIEWS and not flat:  # their view is taken already
    raise ValueError(f'model.input_view must be one of {INPUT_VIEWS}, got '
                     f'{view!r}')
  if module_type == 'dense':
    if view in POOLED_STATS and not flat:
      input_shape = (input_shape[0], POOLED_STATS[view], input_shape[2])
    d_in = int(math.prod(input_shape))
    return [(m, d_in if l == 0 else u, u) for l in range(mc.num_layers)]
  if len(input_shape) != 3:
    raise ValueError(f'conv modules need [H, W, C] inputs, got {input_shape}')
  c_in = input_shape[-1]
  return [(m, CONV_KERNEL, CONV_KERNEL, c_in if l == 0 else u, u)
          for l in range(mc.num_layers)]


def init_head(key: jax.Array, units: int, num_classes: int,
              skip_inputs: int = 0) -> Params:
  """A task's linear head, [U] -> [C]; with skip_inputs = d_in > 0 also
  the zero-initialised linear path [d_in, C] from layer 1's input view."""
  init = jax.nn.initializers.lecun_normal()
  head = {'w': init(key, (units, num_classes), jnp.float32),
          'b': jnp.zeros((num_classes,), jnp.float32)}
  if skip_inputs:
    head['skip'] = jnp.zeros((skip_inputs, num_classes), jnp.float32)
  return head


def init(key: jax.Array, config, input_shape, num_classes: int) -> Params:
  """Stacked-module PathNet parameters.

  Args:
    key: PRNG key.
    config: ConfigDict with `model.num_layers`, `model.num_modules`,
      `model.module_units`, optional `model.module_type` (or the same names
      at top level).
    input_shape: one example's shape, e.g. (64, 64, 3), or its flattened
      size (dense modules only).
    num_classes: C, the task head's width.
  """
  mc = config.model if 'model' in config else config
  if isinstance(input_shape, int):
    input_shape = (input_shape,)
  shapes = _layer_shapes(mc, tuple(int(d) for d in input_shape))
  keys = jax.random.split(key, mc.num_layers + 1)
  layers = [_module_init(k, shape) for k, shape in zip(keys, shapes)]
  skip = 0
  if mc.head_skip:
    if len(shapes[0]) != 3:
      raise ValueError('model.head_skip needs dense modules (a flat layer-1 '
                       f'input), got module_type={mc.module_type!r}')
    skip = shapes[0][1]
  return {'layers': layers,
          'head': init_head(keys[-1], mc.module_units, num_classes, skip)}


def init_like(key: jax.Array, params: Params, num_classes: int) -> Params:
  """Fresh parameters with the shapes of `params` and a new C-way head."""
  keys = jax.random.split(key, len(params['layers']) + 1)
  layers = [_module_init(k, layer['w'].shape)
            for k, layer in zip(keys, params['layers'])]
  units = params['head']['w'].shape[0]
  skip = params['head']['skip'].shape[0] if 'skip' in params['head'] else 0
  return {'layers': layers,
          'head': init_head(keys[-1], units, num_classes, skip)}


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


def module_outputs(w: jax.Array, b: jax.Array, h: jax.Array) -> jax.Array:
  """ReLU outputs of K sliced modules (see slices.py for the layout).

  Dense: w [K, U, d_in], h [B, d_in] -> [B, K, U]. Conv: w [K, kh, kw, c_in,
  U], h [B, H, W, c_in] -> [B, H/2, W/2, K, U]; the K kernels are concatenated
  along output channels so one convolution computes all of them.
  """
  if w.ndim == 3:
    # One 2-D product with [K*U, d_in]: XLA:CPU compiles the 3-D einsum
    # 'bd,kud->bku' to a slower batched dot.
    k, u, d = w.shape
    out = jnp.dot(h, w.reshape(k * u, d).T).reshape(h.shape[0], k, u)
    return jax.nn.relu(out + b)
  k, kh, kw, c_in, u = w.shape
  patches = _patches(h, kh, kw, CONV_STRIDE)  # [B, H/2, W/2, kh*kw*c_in]
  kernel = jnp.transpose(w, (1, 2, 3, 0, 4)).reshape(kh * kw * c_in, k * u)
  out = jnp.dot(patches.reshape(-1, patches.shape[-1]), kernel)
  return jax.nn.relu(out.reshape(patches.shape[:3] + (k, u)) + b)


def _patches(h: jax.Array, kh: int, kw: int, stride: int) -> jax.Array:
  """[B, H, W, C] -> [B, ceil(H/s), ceil(W/s), kh*kw*C]: the 'SAME'-padded
  kh x kw windows at stride s (ordered kh, kw, C), cut out by slicing.

  The convolution as windows times one matrix: XLA:CPU runs convolutions
  (their weight gradients above all) 20-70x slower inside a loop body, the
  lax.scan over training steps, than outside one (jax#12868: 235 ms against
  16 ms per conv training step here); slices and a matrix product do not
  suffer. The same arithmetic as lax.conv_general_dilated up to rounding.
  """
  _, height, width, _ = h.shape
  out_h, out_w = -(-height // stride), -(-width // stride)
  pad_h = max((out_h - 1) * stride + kh - height, 0)
  pad_w = max((out_w - 1) * stride + kw - width, 0)
  padded = jnp.pad(h, ((0, 0), (pad_h // 2, pad_h - pad_h // 2),
                       (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
  windows = [padded[:, i:i + stride * (out_h - 1) + 1:stride,
                    j:j + stride * (out_w - 1) + 1:stride]
             for i in range(kh) for j in range(kw)]
  return jnp.concatenate(windows, axis=-1)


def weighted_outputs(layer_slice: Params, weights: jax.Array,
                     h: jax.Array) -> jax.Array:
  """Sum over the slice's K modules of weights[k] * module_k(h)."""
  out = module_outputs(layer_slice['w'], layer_slice['b'], h)
  return jnp.einsum('...ku,k->...u', out, weights)


def slice_layer(layer_slice: Params, weights: jax.Array, h: jax.Array,
                aggregate: str, fixed: tuple[Params, jax.Array] | None = None
                ) -> jax.Array:
  """One layer of a pathway from its slice; `fixed` = (slice, weights) of
  read-only modules (frozen, always active) that join the layer."""
  total, count = weighted_outputs(layer_slice, weights, h), weights.sum()
  if fixed is not None:
    fixed_slice, fixed_w = fixed
    total = total + weighted_outputs(
        jax.lax.stop_gradient(fixed_slice), fixed_w, h)
    count = count + fixed_w.sum()
  return _normalise(total, count, aggregate)


def dense_layer_gathered(layer: Params, indices: jax.Array,
                         weights: jax.Array, h: jax.Array,
                         aggregate: str) -> jax.Array:
  """Only the K listed modules on [B, d_in] -> [B, U]."""
  part = slices.gather({'layers': [layer], 'head': None}, indices[None])
  return slice_layer(part['layers'][0], weights, h, aggregate)


def conv_layer_gathered(layer: Params, indices: jax.Array, weights: jax.Array,
                        h: jax.Array, aggregate: str) -> jax.Array:
  """The K listed conv modules on [B, H, W, c_in] -> [B, H/2, W/2, U]."""
  return dense_layer_gathered(layer, indices, weights, h, aggregate)


def conv_layer_masked(layer: Params, mask: jax.Array, h: jax.Array,
                      aggregate: str) -> jax.Array:
  """All M conv modules, masked by [M]."""
  m = layer['w'].shape[0]
  return conv_layer_gathered(layer, jnp.arange(m), mask, h, aggregate)


def _dropout(key, h, rate):
  keep = jax.random.bernoulli(key, 1.0 - rate, h.shape)
  return jnp.where(keep, h / (1.0 - rate), 0.0)


def features(params: Params, indices: jax.Array, weights: jax.Array,
             x: jax.Array, *, aggregate: str = 'mean', compute: str = 'gather',
             dropout_rate: float = 0.0, key: jax.Array | None = None):
  """The last layer's [B, U] activations of the pathway given by slots."""
  if compute not in COMPUTES:
    raise ValueError(f'compute must be one of {COMPUTES}, got {compute!r}')
  conv = params['layers'][0]['w'].ndim == 5
  # Dense-vs-gather makes no difference to a conv's FLOPs per module.
  if compute == 'gather' or conv:
    part = slices.gather(params, indices)
    return slice_features(part['layers'], weights, x, aggregate=aggregate,
                          dropout_rate=dropout_rate, key=key)
  h = _flat_input(params['layers'][0]['w'].shape[1], x)
  m = num_modules(params)
  for l, layer in enumerate(params['layers']):
    if dropout_rate > 0.0 and key is not None:
      h = _dropout(jax.random.fold_in(key, l), h, dropout_rate)
    mask = pathway.slots_to_mask(indices[l], weights[l], m)
    h = dense_layer_masked(layer, mask, h, aggregate)
  return h


def slice_input_size(layers: list[Params]) -> int | None:
  """d_in of a dense slice's layer 1, None for conv slices."""
  w = layers[0]['w']
  return int(w.shape[2]) if w.ndim == 3 else None


def slice_features(layers: list[Params], weights: jax.Array, x: jax.Array, *,
                   aggregate: str = 'mean', dropout_rate: float = 0.0,
                   key: jax.Array | None = None,
                   fixed: tuple[list[Params], jax.Array] | None = None):
  """[B, U] features of a pathway from its slice (slices.gather) and slot
  weights [L, K]; `fixed` = (layers, weights [L, F]) of read-only modules."""
  d_in = slice_input_size(layers)
  h = x if d_in is None else _flat_input(d_in, x)
  for l, layer in enumerate(layers):
    if dropout_rate > 0.0 and key is not None:
      h = _dropout(jax.random.fold_in(key, l), h, dropout_rate)
    h = slice_layer(layer, weights[l], h, aggregate,
                    None if fixed is None else (fixed[0][l], fixed[1][l]))
  return h if d_in is not None else h.mean(axis=(1, 2))


def _flat_input(d_in: int, x: jax.Array) -> jax.Array:
  """[B, ...] -> [B, d_in]; time-pooled first when layer 1 expects it and x
  is not pooled already (the number of statistics tells which view)."""
  if x.ndim == 4 and x[0].size != d_in:
    for view, stats in POOLED_STATS.items():
      if x.shape[1] * stats * x.shape[3] == d_in:
        return input_view(x, view).reshape(x.shape[0], -1)
  return x.reshape(x.shape[0], -1)


def layer1_input(params: Params, x: jax.Array) -> jax.Array:
  """What layer 1 computes on, [n, d_in] for dense modules (the input view
  taken, e.g. time-pooled, and flattened); conv inputs unchanged. Computing
  this once per data set saves the view at every step."""
  w = params['layers'][0]['w']
  return x if w.ndim != 3 else _flat_input(int(w.shape[1]), x)


def head_apply(head: Params, h: jax.Array, x: jax.Array | None = None
               ) -> jax.Array:
  """Logits [B, C] from the last layer's [B, U]; a head with a skip path
  also reads the inputs x [B, ...] (layer 1's view is taken here)."""
  logits = h @ head['w'] + head['b']
  if 'skip' in head:
    logits = logits + skip_logits(head, x)
  return logits


def skip_logits(head: Params, x: jax.Array) -> jax.Array:
  """[B, C]: the head's linear path from layer 1's input view of x."""
  d_in = head['skip'].shape[0]
  return _flat_input(d_in, x) @ head['skip'] / math.sqrt(d_in)


def apply_slots(params: Params, indices: jax.Array, weights: jax.Array,
                x: jax.Array, **kwargs) -> jax.Array:
  """Logits [B, C] of the pathway given as slots (indices/weights [L, K])."""
  return head_apply(params['head'],
                    features(params, indices, weights, x, **kwargs), x)


def apply(params: Params, mask: jax.Array, x: jax.Array, *,
          aggregate: str = 'mean') -> jax.Array:
  """Logits [B, C] of the pathway given by a mask [L, M] on inputs [B, ...].

  Active modules' ReLU outputs are averaged ('mean', the paper) or summed
  ('sum', the original PathNet); a layer with no active module outputs zeros.
  """
  conv = params['layers'][0]['w'].ndim == 5
  h = x if conv else _flat_input(params['layers'][0]['w'].shape[1], x)
  layer_fn = conv_layer_masked if conv else dense_layer_masked
  for l, layer in enumerate(params['layers']):
    h = layer_fn(layer, mask[l], h, aggregate)
  return head_apply(params['head'], h.mean(axis=(1, 2)) if conv else h, x)


# Views pooled over time: statistics per band and channel over the W frames.
POOLED_STATS = {'time_pooled': 2, 'time_stats': 4}
INPUT_VIEWS = ('segment', *POOLED_STATS)


def input_view(x, view: str = 'segment'):
  """What layer 1 sees, from segments [n, H, W, C].

  'segment': the segment as is. 'time_pooled': per band and channel, the
  mean and std over the W frames, [n, H, 2, C] (position-invariant, 12288
  -> 384 inputs). 'time_stats': mean, std, min and max, [n, H, 4, C] (768
  inputs; the extremes keep short events that mean and std blur).
  """
  if view not in INPUT_VIEWS:
    raise ValueError(f'input view must be one of {INPUT_VIEWS}, got {view!r}')
  if view == 'segment':
    return x
  stats = [x.mean(axis=2, keepdims=True), x.std(axis=2, keepdims=True)]
  if view == 'time_stats':
    stats += [x.min(axis=2, keepdims=True), x.max(axis=2, keepdims=True)]
  return jnp.concatenate(stats, axis=2)
