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

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from pathnet_jax import model as model_lib
from pathnet_jax import pathway
from pathnet_jax import slices

MODES = ('sequential', 'parallel')
OPTIMIZERS = ('sgd', 'momentum', 'adamw')
LOSSES = ('cross_entropy', 'hinge')


def make_optimizer(config) -> optax.GradientTransformation:
  """optax optimiser from `config.optim` (name, learning_rate, weight_decay;
  the name checked by checks.validate_config)."""
  oc = config.optim
  lr, wd = oc.learning_rate, oc.weight_decay
  if oc.optimizer == 'adamw':
    return optax.adamw(lr, weight_decay=wd)
  tx = {'sgd': lambda: optax.sgd(lr),
        'momentum': lambda: optax.sgd(lr, momentum=oc.momentum)}[oc.optimizer]()
  return optax.chain(optax.add_decayed_weights(wd), tx) if wd else tx


def steps_per_pathway(n_train: int, batch_size: int, epochs: int = 1) -> int:
  """T = ceil(n_train / batch_size) steps per epoch, as in the paper."""
  return int(math.ceil(n_train / batch_size)) * int(epochs)


def _shuffle_rounds(n: int) -> int:
  """Sort rounds jax.random.permutation uses for n elements (its heuristic:
  keys of 32 random bits, repeated until collisions are unlikely)."""
  return int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))


def _round_thresholds(size: int) -> tuple[int, ...]:
  """The smallest n that needs k sort rounds, for k = 1 .. rounds(size)."""
  out = []
  for k in range(1, _shuffle_rounds(size) + 1):
    lo, hi = 1, size  # rounds() is monotone in n: bisect for the first n
    while lo < hi:
      mid = (lo + hi) // 2
      lo, hi = (lo, mid) if _shuffle_rounds(mid) >= k else (mid + 1, hi)
    out.append(lo)
  return tuple(out)


def permutation(key: jax.Array, n, size: int) -> jax.Array:
  """int32[size]: `jax.random.permutation(key, n)` for a row count n <= size
  that may be traced (a fold padded to its protocol's largest fold), then
  the padding positions n .. size-1 in order.

  The same sort-based shuffle as JAX's (same key splits, same random bits:
  threefry's bits for a position depend only on the position, so the first
  n of `size` draws are the n draws; a stable sort): padding positions get
  the largest sort key and stay behind every real row. Equal to JAX's for
  every n (tests/test_train.py).
  """
  order = jnp.arange(size, dtype=jnp.int32)
  real = order < n
  for k, first_n in enumerate(_round_thresholds(size)):
    key, subkey = jax.random.split(key)
    sort_keys = jnp.where(real, jax.random.bits(subkey, (size,), jnp.uint32),
                          np.uint32(np.iinfo(np.uint32).max))
    _, shuffled = jax.lax.sort_key_val(sort_keys, order)
    order = jnp.where(n >= first_n, shuffled, order) if k else shuffled
  return order


def batch_indices(key: jax.Array, n, num_steps: int, batch_size: int, *,
                  size: int | None = None,
                  max_passes: int | None = None) -> jax.Array:
  """int32[T, B] minibatch rows: consecutive shuffled passes over n rows.

  n may be traced when the rows are padded to `size` (then `max_passes`
  bounds the passes any row count of the batch needs); with a static n the
  rows are those of `size = n`.
  """
  if size is None:
    size = int(n)
  passes = max_passes or int(math.ceil(num_steps * batch_size / size))
  perms = jax.vmap(lambda k: permutation(k, n, size))(
      jax.random.split(key, passes))  # [passes, size]
  j = jnp.arange(num_steps * batch_size, dtype=jnp.int32)
  return perms[j // n, j % n].reshape(num_steps, batch_size)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def training_loss(logits: jax.Array, labels: jax.Array, head, *,
                  loss: str = 'cross_entropy', head_l2: float = 0.0
                  ) -> jax.Array:
  """The minibatch objective: mean cross-entropy or multi-class hinge
  (Crammer-Singer), plus head_l2 / 2 * |head|^2 over the head's weights
  (not its bias), as an SVM's objective (config.optim.loss, head_l2)."""
  if loss == 'hinge':
    value = optax.losses.multiclass_hinge_loss(logits, labels).mean()
  else:
    value = cross_entropy(logits, labels)
  if head_l2:
    value = value + 0.5 * head_l2 * sum(
        jnp.sum(jnp.square(v)) for k, v in head.items() if k != 'b')
  return value


def _all_finite(tree) -> jax.Array:
  """True when no leaf holds NaN or inf. A leaf's sum is non-finite exactly
  when an element is (or, conservatively, when finite elements overflow);
  XLA:CPU runs the sum 4x faster than all(isfinite), which cost a quarter of
  a paper training step."""
  leaves = jax.tree_util.tree_leaves(tree)
  return jnp.all(jnp.stack([jnp.isfinite(jnp.sum(v)) for v in leaves]))


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


def slice_loss(part, weights, xb, yb, key, fixed=None, *, aggregate,
               dropout_rate, augment, loss='cross_entropy', head_l2=0.0):
  """The training loss (`training_loss`) of one pathway, given as a slice
  (slices.py) and slot weights [L, K], on one minibatch; `fixed` = (layers,
  weights [L, F]) of read-only frozen modules that join the pathway."""
  if augment is not None:
    xb = augment(jax.random.fold_in(key, 1), xb)
  h = model_lib.slice_features(
      part['layers'], weights, xb, aggregate=aggregate,
      dropout_rate=dropout_rate, key=jax.random.fold_in(key, 2), fixed=fixed)
  logits = model_lib.head_apply(part['head'], h, xb)
  return training_loss(logits, yb, part['head'], loss=loss, head_l2=head_l2)


def _trainable_slots(frozen, indices, weights, num_modules):
  """bool[..., L, K]: slots that may move (first occurrence, not frozen,
  a real module)."""
  layer = jnp.arange(frozen.shape[0]).reshape(
      (-1,) + (1,) * (indices.ndim - frozen.ndim + 1))
  is_frozen = frozen[layer, jnp.clip(indices, 0, num_modules - 1)]
  return (weights > 0) & ~is_frozen & (indices < num_modules)


def train_pathways(params, opt_state, indices, weights, x, y, path_keys, *,
                   tx: optax.GradientTransformation, frozen: jax.Array,
                   num_steps: int, batch_size: int, mode: str = 'sequential',
                   aggregate: str = 'mean', compute: str = 'gather',
                   dropout_rate: float = 0.0,
                   augment: Callable | None = None, num_fixed: int = 0,
                   steps=None, n_rows=None, max_passes: int | None = None,
                   loss: str = 'cross_entropy', head_l2: float = 0.0):
  """Train P pathways for `num_steps` SGD steps each, in one traced call.

  Each pathway's modules are gathered once into a slice (slices.py), its T
  steps run on the slice and the head only, and the slice is scattered back
  once: nothing else of the stacked tensors is touched per step.

  Args:
    params, opt_state: shared PathNet parameters and optimiser state.
    indices, weights: int32/float32[P, L, K] slots of the P pathways.
    x: [n, ...] training inputs on device; y: int32[n] labels.
    path_keys: [P] PRNG keys, one per pathway (minibatch order, dropout,
      augmentation), so a sequential run equals P single-pathway runs.
    tx: optimiser. frozen: bool[L, M] modules that never change.
    num_steps: T steps per pathway. batch_size: B.
    mode: 'sequential' (one slice per pathway, in turn) or 'parallel' (one
      slice over the union of the P pathways' modules, gradients summed).
    compute: 'gather' (slices of the active modules) or 'dense' (the slice is
      all M modules: the full-tensor path).
    num_fixed: F; the last F slots of every layer are frozen modules that
      join every pathway (the same indices for all P, their weights may
      differ by deduplication): gathered once, read-only, no gradient.
    steps: optional int32[] T' <= num_steps: the steps this run takes (a
      fold of a padded protocol); later steps leave everything unchanged.
    n_rows: optional int32[] rows of x that are real (the rest is padding,
      never sampled); max_passes bounds the shuffled passes any n_rows of
      the batch needs (see batch_indices).
    loss, head_l2: the objective (see `training_loss`).

  Returns:
    params, opt_state, {'loss': float32[P] mean training loss,
                        'skipped': int32[] non-finite steps skipped}.
  """
  num_modules = model_lib.num_modules(params)
  frozen = jnp.asarray(frozen, bool)
  n = x.shape[0] if n_rows is None else n_rows
  rows = jax.vmap(lambda k: batch_indices(
      k, n, num_steps, batch_size, size=x.shape[0],
      max_passes=max_passes))(path_keys)  # [P, T, B]
  taken = num_steps if steps is None else steps
  fixed_layers, fixed_w = None, None
  if num_fixed:  # frozen: the same values for the whole call
    fixed_layers = slices.gather(params, indices[0, :, -num_fixed:])['layers']
    fixed_w = weights[..., -num_fixed:]
    indices, weights = indices[..., :-num_fixed], weights[..., :-num_fixed]
  else:
    fixed_w = jnp.zeros(weights.shape[:-1] + (0,), weights.dtype)
  loss_fn = functools.partial(slice_loss, aggregate=aggregate,
                              dropout_rate=dropout_rate, augment=augment,
                              loss=loss, head_l2=head_l2)

  def fixed_of(w):
    return None if fixed_layers is None else (fixed_layers, w)
  zero = jnp.zeros((), jnp.int32)

  def train_slice(part, part_opt, skipped, loss_and_aux, trainable):
    """The run's guarded steps on a slice; loss_and_aux(part, t) -> (loss,
    aux). Returns ((part, part_opt, skipped), mean of aux over the steps);
    the mean is a running sum in step order, so padding steps (t >= steps,
    skipped) leave it, and everything else, bit for bit unchanged."""
    def step(carry, t):
      part, part_opt, skipped, total = carry
      (loss, aux), grads = jax.value_and_grad(loss_and_aux, has_aux=True)(
          part, t)
      part, part_opt, s = sgd_step(part, part_opt, grads, loss, trainable,
                                   tx=tx)
      return part, part_opt, skipped + s, total + aux

    def maybe_step(carry, t):
      if steps is None:
        return step(carry, t), None
      return jax.lax.cond(t < steps, step, lambda c, _: c, carry, t), None

    total = jnp.zeros(jax.eval_shape(lambda: loss_and_aux(part, 0)[1]).shape,
                      jnp.float32)
    (part, part_opt, skipped, total), _ = jax.lax.scan(
        maybe_step, (part, part_opt, skipped, total), jnp.arange(num_steps))
    return (part, part_opt, skipped), total / taken

  def gathered(params, opt_state, idx):
    return (slices.gather(params, idx),
            slices.gather_opt_state(tx, opt_state, params, idx))

  def scattered(params, opt_state, part, part_opt, idx, write):
    return (slices.scatter(params, part, idx, write),
            slices.scatter_opt_state(tx, opt_state, part_opt, params, idx,
                                     write))

  if mode == 'sequential':
    def one_pathway(carry, inputs):
      params, opt_state, skipped = carry
      p_idx, p_w, p_fixed_w, p_rows, p_key = inputs
      if compute == 'dense':
        p_idx, p_w = _full_slots(p_idx, p_w, num_modules)
      part, part_opt = gathered(params, opt_state, p_idx)
      trainable = _trainable_slots(frozen, p_idx, p_w, num_modules)

      def loss_and_aux(part, t):
        r = p_rows[t]
        loss = loss_fn(part, p_w, x[r], y[r], jax.random.fold_in(p_key, t),
                       fixed_of(p_fixed_w))
        return loss, loss

      (part, part_opt, skipped), mean_loss = train_slice(
          part, part_opt, skipped, loss_and_aux, trainable)
      params, opt_state = scattered(params, opt_state, part, part_opt, p_idx,
                                    trainable)
      return (params, opt_state, skipped), mean_loss

    (params, opt_state, skipped), losses = jax.lax.scan(
        one_pathway, (params, opt_state, zero),
        (indices, weights, fixed_w, rows, path_keys))
    return params, opt_state, {'loss': losses, 'skipped': skipped}

  members, positions = _union_slots(indices, weights, num_modules, compute)
  part, part_opt = gathered(params, opt_state, members)
  trainable = _trainable_slots(frozen, members,
                               jnp.ones(members.shape, jnp.float32),
                               num_modules)

  def summed_loss(part, t):
    r = rows[:, t]
    step_keys = jax.vmap(lambda k: jax.random.fold_in(k, t))(path_keys)
    losses = jax.vmap(_remapped_loss(loss_fn, part, fixed_of))(
        positions, weights, fixed_w, x[r], y[r], step_keys)
    return losses.sum(), losses

  (part, part_opt, skipped), mean_losses = train_slice(
      part, part_opt, zero, summed_loss, trainable)
  params, opt_state = scattered(params, opt_state, part, part_opt, members,
                                trainable)
  return params, opt_state, {'loss': mean_losses, 'skipped': skipped}


def _full_slots(indices, weights, num_modules):
  """Slots [..., L, K] -> the same pathway over all M modules [..., L, M]."""
  mask = pathway.slots_to_mask(indices, weights, num_modules)
  return jnp.broadcast_to(jnp.arange(num_modules, dtype=jnp.int32),
                          mask.shape), mask


def _union_slots(indices, weights, num_modules, compute):
  """Per layer, the union of P pathways' modules (static capacity
  min(M, P*K); all M modules for compute='dense') and each slot's position in
  it. Returns (members int32[L, cap], positions int32[P, L, K])."""
  p, num_layers, k = indices.shape
  cap = num_modules if compute == 'dense' else min(num_modules, p * k)
  if cap == num_modules:  # the full tensor: no union to find
    members = jnp.broadcast_to(jnp.arange(num_modules, dtype=jnp.int32),
                               (num_layers, num_modules))
    return members, indices
  members, positions = jax.vmap(
      lambda i, w: slices.union(i, w, cap, num_modules),
      in_axes=(1, 1), out_axes=(0, 1))(indices, weights)
  return members, positions


def _remapped_loss(loss_fn, part, fixed_of):
  """loss(positions, weights, ...) of a pathway inside a union slice."""
  def loss(positions, weights, fixed_w, xb, yb, key):
    layers = [jax.tree_util.tree_map(lambda a: jnp.take(a, positions[l], 0),
                                     layer)
              for l, layer in enumerate(part['layers'])]
    return loss_fn({'layers': layers, 'head': part['head']}, weights, xb, yb,
                   key, fixed_of(fixed_w))
  return loss


def _chunks(n: int, batch_size: int):
  size = min(batch_size, n)
  return int(math.ceil(n / size)), size


def _union_logits(params, indices, weights, members, positions, xb, *,
                  aggregate):
  """Logits [P, b, C] of P dense pathways whose layer-1 modules are the
  union `members` [cap] (each computed once on the chunk)."""
  first = slices.gather({'layers': params['layers'][:1], 'head': None},
                        members[None])['layers'][0]
  out = model_lib.module_outputs(first['w'], first['b'],
                                 model_lib.layer1_input(params, xb))  # [b,cap,U]
  # [P, cap]: each pathway's slot weights summed onto union positions.
  select = jax.vmap(lambda pos, w: jnp.zeros(members.shape, w.dtype).at[
      pos].add(w))(positions, weights[:, 0])
  h = model_lib._normalise(jnp.einsum('bcu,pc->pbu', out, select),
                           weights[:, 0].sum(-1)[:, None, None], aggregate)

  def rest(i, w, h):
    part = slices.gather({'layers': params['layers'][1:], 'head': None},
                         i[1:])
    for l, layer in enumerate(part['layers']):
      h = model_lib.slice_layer(layer, w[l + 1], h, aggregate)
    return h @ params['head']['w'] + params['head']['b']
  logits = jax.vmap(rest)(indices, weights, h)
  if 'skip' in params['head']:  # one head: the same for every pathway
    logits = logits + model_lib.skip_logits(params['head'], xb)
  return logits


def evaluate(params, indices, weights, x, y, *, batch_size: int = 1024,
             aggregate: str = 'mean', compute: str = 'gather',
             memory_budget: int = 256 << 20, n_rows=None,
             one_capacity: bool = False):
  """Accuracy and mean loss of P pathways on all n rows.

  Dense modules: the distinct layer-1 modules of the P pathways (pairs
  converge to near-identical genotypes) are computed once, in a union slice
  of the smallest static size that holds them (one compiled branch per size,
  slices.capacity_buckets), in as few row chunks as `memory_budget` bytes of
  activations allow (at least `batch_size` rows). Conv modules: each pathway
  on chunks of `batch_size` rows.

  Args:
    indices, weights: [P, L, K] slots. x: [n, ...]; y: int32[n].
    n_rows: optional int32[]: only the first n_rows rows are real (a padded
      fold); the rest count nowhere.
    one_capacity: compute the largest union size only, without the branch
      per size (under vmap every branch would run).

  Returns:
    (accuracy float32[P], loss float32[P]).
  """
  n = x.shape[0]
  real = n if n_rows is None else n_rows
  p, _, k = indices.shape
  num_modules = model_lib.num_modules(params)
  dense = params['layers'][0]['w'].ndim == 3
  if not dense:
    return _evaluate_per_pathway(params, indices, weights, x, y,
                                 batch_size=batch_size, aggregate=aggregate,
                                 compute=compute, n_rows=real)
  units = params['layers'][0]['w'].shape[2]
  cap = num_modules if compute == 'dense' else min(num_modules, p * k)
  row_bytes = 4 * units * (cap + 2 * p) + 4 * x[0].size
  rows = max(min(batch_size, n), min(n, memory_budget // row_bytes))
  num_chunks, size = _chunks(n, rows)

  def scores(capacity):
    def run(indices, weights, x, y):
      if capacity == num_modules:
        members = jnp.arange(num_modules, dtype=jnp.int32)
        positions = indices[:, 0]
      else:
        members, positions = slices.union(indices[:, 0], weights[:, 0],
                                          capacity, num_modules)

      def chunk(xb, yb, valid):
        return _chunk_scores(_union_logits(
            params, indices, weights, members, positions, xb,
            aggregate=aggregate), yb, valid)

      return _sum_over_chunks(chunk, x, y, num_chunks, size, real)
    return run

  sizes = ((cap,) if compute == 'dense' or one_capacity else
           slices.capacity_buckets(k, cap))
  if len(sizes) == 1:
    correct, nll = scores(cap)(indices, weights, x, y)
  else:
    distinct = slices.num_distinct(indices[:, 0], weights[:, 0])
    branch = jnp.searchsorted(jnp.asarray(sizes), distinct)
    correct, nll = jax.lax.switch(
        jnp.minimum(branch, len(sizes) - 1), [scores(c) for c in sizes],
        indices, weights, x, y)
  return correct / real, nll / real


def _chunk_scores(logits, yb, valid):
  """(correct int[P], summed NLL float[P]) of logits [P, b, C] on the valid
  rows of a chunk."""
  correct = (jnp.argmax(logits, -1) == yb) & valid
  nll = optax.softmax_cross_entropy_with_integer_labels(
      logits, jnp.broadcast_to(yb, logits.shape[:-1]))
  return correct.sum(-1), jnp.where(valid, nll, 0.0).sum(-1)


def _sum_over_chunks(chunk, x, y, num_chunks, size, n_rows=None):
  """Sum chunk(xb, yb, valid) over rows (the first n_rows are real, default
  all); one chunk needs no padded copy."""
  n = x.shape[0]
  real = n if n_rows is None else n_rows
  if num_chunks == 1:
    return chunk(x, y, jnp.arange(n) < real)
  pad = num_chunks * size - n
  xp = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)])
  yp = jnp.concatenate([y, jnp.zeros((pad,), y.dtype)])
  valid = jnp.arange(num_chunks * size) < real

  def one(c):
    sl = lambda a: jax.lax.dynamic_slice_in_dim(a, c * size, size)
    return chunk(sl(xp), sl(yp), sl(valid))

  parts = jax.lax.map(one, jnp.arange(num_chunks))
  return jax.tree_util.tree_map(lambda a: a.sum(0), parts)


def _evaluate_per_pathway(params, indices, weights, x, y, *, batch_size,
                          aggregate, compute, n_rows):
  num_chunks, size = _chunks(x.shape[0], batch_size)

  def chunk(xb, yb, valid):
    logits = jax.vmap(
        lambda i, w: model_lib.apply_slots(params, i, w, xb,
                                           aggregate=aggregate,
                                           compute=compute))(indices, weights)
    return _chunk_scores(logits, yb, valid)

  correct, nll = _sum_over_chunks(chunk, x, y, num_chunks, size, n_rows)
  return correct / n_rows, nll / n_rows


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
