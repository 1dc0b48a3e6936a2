"""An AlexNet-like CNN for 64x64x3 log-mel segments (or face crops).

The fine-tuning baseline of the paper is Zhang et al. 2018: AlexNet on
3-channel log-mel segments. This is AlexNet's shape (5 convolutions, 3
overlapping max-pools, 2 dropout-regularised dense layers, a head) sized for
64x64 inputs, with widths from the config so it can shrink to CPU scale.

Config fields read (see experiments/configs/finetune.py):
  model.conv_features, model.conv_kernels, model.conv_strides,
  model.pool_after, model.dense_features, model.dropout;
  optimizer ('adam' | 'sgd'), learning_rate, momentum, weight_decay,
  batch_size, epochs, eval_batch_size.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

Params = Any


class AlexNetLike(nn.Module):
  """Convs (ReLU; 3x3/2 max-pool after the listed ones) -> dense -> head."""
  conv_features: Sequence[int]
  conv_kernels: Sequence[int]
  conv_strides: Sequence[int]
  pool_after: Sequence[int]
  dense_features: Sequence[int]
  dropout: float
  num_classes: int

  @nn.compact
  def __call__(self, x, train: bool = False):
    """[n, H, W, C] float -> [n, num_classes] logits."""
    for i, (feat, k, s) in enumerate(zip(self.conv_features, self.conv_kernels,
                                         self.conv_strides)):
      x = nn.relu(nn.Conv(feat, (k, k), strides=(s, s), name=f'conv{i}')(x))
      if i in self.pool_after:
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding='SAME')
    x = x.reshape((x.shape[0], -1))
    for j, feat in enumerate(self.dense_features):
      x = nn.relu(nn.Dense(feat, name=f'dense{j}')(x))
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.num_classes, name='head')(x)


def make_model(model_config, num_classes: int) -> AlexNetLike:
  """The CNN described by `config.model` with a `num_classes` head."""
  c = model_config
  return AlexNetLike(
      conv_features=tuple(c.conv_features), conv_kernels=tuple(c.conv_kernels),
      conv_strides=tuple(c.conv_strides), pool_after=tuple(c.pool_after),
      dense_features=tuple(c.dense_features), dropout=float(c.dropout),
      num_classes=num_classes)


def init_cnn(key, config, num_classes: int,
             input_shape: Sequence[int]) -> Params:
  """Fresh parameters for inputs of shape [H, W, C]."""
  model = make_model(config.model, num_classes)
  return model.init(key, jnp.zeros((1, *input_shape), jnp.float32))['params']


def with_new_head(key, config, pretrained: Params, num_classes: int,
                  input_shape: Sequence[int]) -> Params:
  """Pretrained body with a freshly initialised `num_classes` head."""
  fresh = init_cnn(key, config, num_classes, input_shape)
  body = {k: v for k, v in pretrained.items() if k != 'head'}
  shapes = lambda tree: jax.tree.map(np.shape, tree)
  if shapes(body) != shapes({k: v for k, v in fresh.items() if k != 'head'}):
    raise ValueError('pretrained parameters do not match config.model')
  return {**body, 'head': fresh['head']}


def num_classes_of(params: Params) -> int:
  return int(params['head']['bias'].shape[0])


def make_optimizer(config, learning_rate: float) -> optax.GradientTransformation:
  """Adam(W) or SGD with momentum, with optional decoupled weight decay."""
  return _optimizer(config.optimizer, float(learning_rate),
                    float(config.momentum or 0.0),
                    float(config.weight_decay or 0.0))


@functools.lru_cache(maxsize=None)
def _optimizer(name: str, learning_rate: float, momentum: float,
               weight_decay: float) -> optax.GradientTransformation:
  # Cached so equal settings give the same (hashable) object, and the jitted
  # train step, which takes it as a static argument, compiles once per run.
  if name == 'adam':
    return optax.adamw(learning_rate, weight_decay=weight_decay)
  if name != 'sgd':
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")
  tx = optax.sgd(learning_rate, momentum=momentum or None)
  if weight_decay:  # for SGD, L2 on the gradient = decoupled decay
    tx = optax.chain(optax.add_decayed_weights(weight_decay), tx)
  return tx


def train_step(model: AlexNetLike, tx: optax.GradientTransformation, params,
               opt_state, xb, yb, key):
  """One minibatch: [b, H, W, C], [b] -> params, opt_state, loss, accuracy.
  Unjitted: `_train_step` jits it for one run, experiments/lib/cnn_runs.py
  vmaps it over the runs of a batch."""

  def loss_fn(p):
    logits = model.apply({'params': p}, xb, train=True, rngs={'dropout': key})
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
    return loss.mean(), logits

  (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, opt_state = tx.update(grads, opt_state, params)
  params = optax.apply_updates(params, updates)
  return params, opt_state, loss, jnp.mean(logits.argmax(-1) == yb)


_train_step = jax.jit(train_step, static_argnums=(0, 1))


def train_cnn(key, config, x_train, y_train, init_params=None, *,
              num_classes: int | None = None, epochs: int | None = None,
              learning_rate: float | None = None,
              validation: tuple[Any, Any] | None = None
              ) -> tuple[Params, dict[str, Any]]:
  """Trains all layers with minibatch cross-entropy.

  A Python loop over a jitted step: on XLA:CPU a `lax.scan` over the steps of
  an epoch ran convolutions ~20x slower than separate jitted steps. The
  minibatch gather happens outside the step so the step's shapes (and its
  compilation) are the same for every fold.

  Args:
    key: jax.random key (initialisation when `init_params` is None, shuffling,
      dropout).
    config: the finetune config (model, optimizer and batch fields).
    x_train: [n, H, W, C] float32, already normalised.
    y_train: [n] int labels.
    init_params: start here instead of a fresh initialisation (fine-tuning).
    num_classes: head size for a fresh initialisation; default max label + 1.
    epochs: overrides config.epochs.
    learning_rate: overrides config.learning_rate.
    validation: optional (x_val [m, H, W, C], y_val [m]); its accuracy is
      recorded each epoch and the parameters of the best epoch are returned.

  Returns:
    (params, history) with history lists per epoch: 'loss', 'accuracy' (on the
    training minibatches, dropout on) and, with validation, 'val_accuracy' and
    'best_epoch' (0-based).
  """
  x = jnp.asarray(x_train, jnp.float32)
  y = jnp.asarray(y_train, jnp.int32)
  epochs = config.epochs if epochs is None else epochs
  learning_rate = (config.learning_rate if learning_rate is None
                   else learning_rate)
  init_key, key = jax.random.split(key)
  if init_params is None:
    num_classes = num_classes or int(np.max(y_train)) + 1
    params = init_cnn(init_key, config, num_classes, x.shape[1:])
  else:
    params = init_params
  model = make_model(config.model, num_classes_of(params))
  tx = make_optimizer(config, learning_rate)
  opt_state = tx.init(params)
  batch_size = min(config.batch_size, x.shape[0])
  steps = x.shape[0] // batch_size  # drop the last partial batch

  history: dict[str, Any] = {'loss': [], 'accuracy': []}
  best = (-1.0, params)
  if validation is not None:
    history['val_accuracy'] = []
  for e in range(epochs):
    perm_key, drop_key = jax.random.split(jax.random.fold_in(key, e))
    batches = jax.random.permutation(perm_key, x.shape[0])[
        :steps * batch_size].reshape(steps, batch_size)
    losses, accs = [], []
    for idx, step_key in zip(batches, jax.random.split(drop_key, steps)):
      params, opt_state, loss, acc = _train_step(
          model, tx, params, opt_state, x[idx], y[idx], step_key)
      losses.append(loss)
      accs.append(acc)
    history['loss'].append(float(np.mean(jax.device_get(losses))))
    history['accuracy'].append(float(np.mean(jax.device_get(accs))))
    if validation is not None:
      val_pred = predict_log_probs(params, validation[0], config).argmax(1)
      val_acc = float(np.mean(val_pred == np.asarray(validation[1])))
      history['val_accuracy'].append(val_acc)
      if val_acc > best[0]:
        best = (val_acc, params)
        history['best_epoch'] = e
  if validation is not None and epochs:
    params = best[1]
  return params, history


def predict_log_probs(params: Params, x, config) -> np.ndarray:
  """Log-softmax outputs: [n, H, W, C] -> [n, num_classes] (dropout off)."""
  model = make_model(config.model, num_classes_of(params))
  batch_size = config.eval_batch_size
  x = np.asarray(x, np.float32)
  out = []
  for start in range(0, x.shape[0], batch_size):
    chunk = x[start:start + batch_size]
    # Pad to a fixed batch so the jitted function compiles once.
    pad = batch_size - chunk.shape[0]
    padded = np.pad(chunk, ((0, pad),) + ((0, 0),) * (x.ndim - 1))
    out.append(np.asarray(_log_probs(model, params, padded))[:chunk.shape[0]])
  if not out:
    return np.zeros((0, num_classes_of(params)), np.float32)
  return np.concatenate(out)


@functools.partial(jax.jit, static_argnums=0)
def _log_probs(model: AlexNetLike, params: Params, x):
  # Modules are hashable dataclasses: one compilation per architecture.
  return jax.nn.log_softmax(model.apply({'params': params}, x))
