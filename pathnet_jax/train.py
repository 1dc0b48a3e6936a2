"""Training P pathways on shared stacked weights, and their fitness.

Everything here is a pure function meant to run under `jax.jit`; the static
settings (batch size, step count, mode) are keyword arguments bound by the
caller with `functools.partial` before jitting.

Modes for P pathways trained in one call:
  * 'sequential' (the paper): pathway p starts from the weights pathway p-1
    left; `lax.scan` over pathways of `lax.scan` over steps.
  * 'parallel' (the original PathNet's parallel workers): all P pathways step
    together on the shared weights, their gradients summed, each on its own
    minibatch stream.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from pathnet_jax import model as model_lib
from pathnet_jax import pathway

MODES = ('sequential', 'parallel')
OPTIMIZERS = ('sgd', 'momentum', 'adamw')


def make_optimizer(config) -> optax.GradientTransformation:
  """optax optimiser from `config.optim` (name, learning_rate, weight_decay)."""
  oc = config.optim
  name, lr, wd = oc.optimizer, oc.learning_rate, oc.get('weight_decay', 0.0)
  if name == 'sgd':
    tx = optax.sgd(lr)
    return optax.chain(optax.add_decayed_weights(wd), tx) if wd else tx
  if name == 'momentum':
    tx = optax.sgd(lr, momentum=oc.get('momentum', 0.9))
    return optax.chain(optax.add_decayed_weights(wd), tx) if wd else tx
  if name == 'adamw':
    return optax.adamw(lr, weight_decay=wd)
  raise ValueError(f'optim.optimizer must be one of {OPTIMIZERS}, got {name!r}')


def steps_per_pathway(n_train: int, batch_size: int, epochs: int = 1) -> int:
  """T = ceil(n_train / batch_size) steps per epoch, as in the paper."""
  return int(math.ceil(n_train / batch_size)) * int(epochs)


def batch_indices(key: jax.Array, n: int, num_steps: int,
                  batch_size: int) -> jax.Array:
  """int32[T, B] minibatch rows: consecutive shuffled passes over n rows."""
  passes = int(math.ceil(num_steps * batch_size / n))
  perms = jax.vmap(lambda k: jax.random.permutation(k, n))(
      jax.random.split(key, passes))
  return perms.reshape(-1)[:num_steps * batch_size].reshape(
      num_steps, batch_size).astype(jnp.int32)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def _all_finite(tree) -> jax.Array:
  leaves = jax.tree_util.tree_leaves(tree)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in leaves]))


def _select_modules(trainable: jax.Array, new: Any, old: Any) -> Any:
  """Per-module choice between new and old layer leaves; head always new.

  trainable: bool[L, M]. Selecting parameters (rather than adding zeroed
  updates) keeps untouched modules bit-identical whatever the optimiser does.
  """
  layers = []
  for l, (n_layer, o_layer) in enumerate(zip(new['layers'], old['layers'])):
    def pick(a, b, l=l):
      keep = trainable[l].reshape((-1,) + (1,) * (a.ndim - 1))
      return jnp.where(keep, a, b)
    layers.append(jax.tree_util.tree_map(pick, n_layer, o_layer))
  return {**new, 'layers': layers}


def sgd_step(params, opt_state, grads, loss, trainable, *, tx):
  """One guarded update: a non-finite loss or gradient leaves state as is.

  Only modules in `trainable` ([L, M]: active in this step and not frozen)
  move, so weight decay or momentum never touch frozen or idle modules.

  Returns (params, opt_state, skipped: int32[]).
  """
  updates, new_opt_state = tx.update(grads, opt_state, params)
  new_params = _select_modules(trainable, optax.apply_updates(params, updates),
                               params)
  ok = jnp.isfinite(loss) & _all_finite(grads)
  params = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b),
                                  new_params, params)
  opt_state = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b),
                                     new_opt_state, opt_state)
  return params, opt_state, jnp.where(ok, 0, 1).astype(jnp.int32)


def pathway_loss(params, indices, weights, xb, yb, key, *, aggregate, compute,
                 dropout_rate, augment):
  """Mean cross-entropy of one pathway on one minibatch."""
  if augment is not None:
    xb = augment(jax.random.fold_in(key, 1), xb)
  logits = model_lib.apply_slots(
      params, indices, weights, xb, aggregate=aggregate, compute=compute,
      dropout_rate=dropout_rate, key=jax.random.fold_in(key, 2))
  return cross_entropy(logits, yb)


def train_pathways(params, opt_state, indices, weights, x, y, path_keys, *,
                   tx: optax.GradientTransformation, frozen: jax.Array,
                   num_steps: int, batch_size: int, mode: str = 'sequential',
                   aggregate: str = 'mean', compute: str = 'gather',
                   dropout_rate: float = 0.0,
                   augment: Callable | None = None):
  """Train P pathways for `num_steps` SGD steps each, in one traced call.

  Args:
    params, opt_state: shared PathNet parameters and optimiser state.
    indices, weights: int32/float32[P, L, K] slots of the P pathways.
    x: [n, ...] training inputs on device; y: int32[n] labels.
    path_keys: [P] PRNG keys, one per pathway (minibatch order, dropout,
      augmentation), so a sequential run equals P single-pathway runs.
    tx: optimiser. frozen: bool[L, M] modules that never change.
    num_steps: T steps per pathway. batch_size: B.

  Returns:
    params, opt_state, {'loss': float32[P] mean training loss,
                        'skipped': int32[] non-finite steps skipped}.
  """
  if mode not in MODES:
    raise ValueError(f'train mode must be one of {MODES}, got {mode!r}')
  num_modules = model_lib.num_modules(params)
  frozen = jnp.asarray(frozen, bool)
  rows = jax.vmap(lambda k: batch_indices(k, x.shape[0], num_steps,
                                          batch_size))(path_keys)  # [P, T, B]
  loss_fn = lambda p, i, w, xb, yb, k: pathway_loss(
      p, i, w, xb, yb, k, aggregate=aggregate, compute=compute,
      dropout_rate=dropout_rate, augment=augment)
  masks = pathway.slots_to_mask(indices, weights, num_modules) > 0  # [P,L,M]

  if mode == 'sequential':
    def one_pathway(carry, inputs):
      p_idx, p_w, p_rows, p_key, p_mask = inputs
      trainable = p_mask & ~frozen

      def step(carry, t):
        params, opt_state, skipped = carry
        r = p_rows[t]
        loss, grads = jax.value_and_grad(loss_fn)(
            params, p_idx, p_w, x[r], y[r], jax.random.fold_in(p_key, t))
        params, opt_state, s = sgd_step(params, opt_state, grads, loss,
                                        trainable, tx=tx)
        return (params, opt_state, skipped + s), loss

      carry, losses = jax.lax.scan(step, carry, jnp.arange(num_steps))
      return carry, losses.mean()

    (params, opt_state, skipped), losses = jax.lax.scan(
        one_pathway, (params, opt_state, jnp.zeros((), jnp.int32)),
        (indices, weights, rows, path_keys, masks))
    return params, opt_state, {'loss': losses, 'skipped': skipped}

  trainable = jnp.any(masks, axis=0) & ~frozen

  def summed_loss(params, r, t):
    step_keys = jax.vmap(lambda k: jax.random.fold_in(k, t))(path_keys)
    losses = jax.vmap(loss_fn, in_axes=(None, 0, 0, 0, 0, 0))(
        params, indices, weights, x[r], y[r], step_keys)
    return losses.sum(), losses

  def step(carry, t):
    params, opt_state, skipped = carry
    (total, losses), grads = jax.value_and_grad(summed_loss, has_aux=True)(
        params, rows[:, t], t)
    params, opt_state, s = sgd_step(params, opt_state, grads, total,
                                    trainable, tx=tx)
    return (params, opt_state, skipped + s), losses

  (params, opt_state, skipped), losses = jax.lax.scan(
      step, (params, opt_state, jnp.zeros((), jnp.int32)),
      jnp.arange(num_steps))
  return params, opt_state, {'loss': losses.mean(axis=0), 'skipped': skipped}


def _chunks(n: int, batch_size: int):
  size = min(batch_size, n)
  return int(math.ceil(n / size)), size


def evaluate(params, indices, weights, x, y, *, batch_size: int = 1024,
             aggregate: str = 'mean', compute: str = 'gather'):
  """Accuracy and mean loss of P pathways on all n rows, in jitted chunks.

  Args:
    indices, weights: [P, L, K] slots. x: [n, ...]; y: int32[n].

  Returns:
    (accuracy float32[P], loss float32[P]).
  """
  n = x.shape[0]
  num_chunks, size = _chunks(n, batch_size)
  pad = num_chunks * size - n
  xp = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)])
  yp = jnp.concatenate([y, jnp.zeros((pad,), y.dtype)])
  valid = jnp.arange(num_chunks * size) < n

  def chunk(c):
    sl = lambda a: jax.lax.dynamic_slice_in_dim(a, c * size, size)
    xb, yb, vb = sl(xp), sl(yp), sl(valid)
    logits = jax.vmap(
        lambda i, w: model_lib.apply_slots(params, i, w, xb,
                                           aggregate=aggregate,
                                           compute=compute))(indices, weights)
    correct = (jnp.argmax(logits, -1) == yb) & vb  # [P, b]
    nll = optax.softmax_cross_entropy_with_integer_labels(
        logits, jnp.broadcast_to(yb, logits.shape[:-1]))
    return correct.sum(-1), jnp.where(vb, nll, 0.0).sum(-1)

  correct, nll = jax.lax.map(chunk, jnp.arange(num_chunks))
  return correct.sum(0) / n, nll.sum(0) / n


def log_probs(params, indices, weights, x, *, batch_size: int = 1024,
              aggregate: str = 'mean', compute: str = 'gather'):
  """float32[n, C] log-probabilities of one pathway (slots [L, K]) on x."""
  n = x.shape[0]
  num_chunks, size = _chunks(n, batch_size)
  pad = num_chunks * size - n
  xp = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)])

  def chunk(c):
    xb = jax.lax.dynamic_slice_in_dim(xp, c * size, size)
    return jax.nn.log_softmax(model_lib.apply_slots(
        params, indices, weights, xb, aggregate=aggregate, compute=compute))

  out = jax.lax.map(chunk, jnp.arange(num_chunks))
  return out.reshape((-1,) + out.shape[2:])[:n]
