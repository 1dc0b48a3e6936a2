"""Many CNN trainings as one batch: the (seed, fold) runs of a protocol.

The fine-tuning baseline trained one fold at a time (RAVDESS leave-one-
speaker-out: ~68 min for one seed). Here the runs of a protocol train
together, as pathnet_jax/runs.py does for PathNet:

  * 'vmap': the runs' parameters are stacked [R, ...] and one compiled step
    advances all R runs (accelerators: R small CNNs fill a device one
    cannot). Rows are padded to the largest run; a run samples minibatches
    from its own rows only and sits out (step mask) the steps beyond its own
    count, so padding never trains anything.
  * 'loop': the same compiled step (`cnn._train_step`: its shapes do not
    depend on the fold) called once per run; bit for bit what a run alone
    gives.
  * 'auto': 'loop' on CPU, 'vmap' elsewhere (config.run_batching).

A run's minibatches, dropout keys and initialisation come from its own key
exactly as `cnn.train_cnn` draws them, so a batched run gives what it gives
alone: bit for bit with 'loop', to float32 rounding with 'vmap'.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from experiments.lib import cnn

BATCHING = ('auto', 'loop', 'vmap')


@dataclasses.dataclass
class CnnRun:
  """One training of a batch, as host arrays.

  key: its PRNG key (what `cnn.train_cnn` takes); x: [n, H, W, C] normalised
  rows, y: int[n] labels; init_params: start here (fine-tuning) instead of a
  fresh init with `num_classes` outputs (default max label + 1);
  validation: optional (x_val [m, H, W, C], y_val [m]) to keep the best
  epoch; name: how messages name it, e.g. 'fold 3, seed 1'.
  """
  key: jax.Array
  x: np.ndarray
  y: np.ndarray
  init_params: Any = None
  num_classes: int | None = None
  validation: tuple[Any, Any] | None = None
  name: str = 'run'


def batching_mode(config) -> str:
  """'loop' or 'vmap' from config.run_batching ('auto': by backend)."""
  mode = config.run_batching
  if mode not in BATCHING:
    raise ValueError(f'config.run_batching must be one of {BATCHING}, got '
                     f'{mode!r}')
  if mode == 'auto':
    return 'loop' if jax.default_backend() == 'cpu' else 'vmap'
  return mode


def train_runs(config, runs: Sequence[CnnRun], *, epochs: int | None = None,
               learning_rate: float | None = None, batching: str | None = None
               ) -> list[tuple[cnn.Params, dict[str, Any]]]:
  """Trains every run; returns each one's (params, history) as
  `cnn.train_cnn` would alone. `epochs`, `learning_rate` override the
  config's for all runs; `batching` overrides config.run_batching."""
  mode = batching or batching_mode(config)
  if mode == 'loop':
    return [cnn.train_cnn(r.key, config, r.x, r.y, r.init_params,
                          num_classes=r.num_classes, epochs=epochs,
                          learning_rate=learning_rate,
                          validation=r.validation) for r in runs]
  if mode != 'vmap':
    raise ValueError(f'batching must be one of {BATCHING}, got {mode!r}')
  epochs = config.epochs if epochs is None else epochs
  learning_rate = (config.learning_rate if learning_rate is None
                   else learning_rate)
  starts = [_start(config, r) for r in runs]
  # Runs stack when their shapes agree: the same head and minibatch size
  # (a run smaller than config.batch_size uses all its rows per step).
  groups: dict[tuple[int, int], list[int]] = {}
  for i, (r, (_, params)) in enumerate(zip(runs, starts)):
    shape = (cnn.num_classes_of(params), min(config.batch_size, len(r.x)))
    groups.setdefault(shape, []).append(i)
  out: list[Any] = [None] * len(runs)
  for members in groups.values():
    trained = _train_stacked(config, [runs[i] for i in members],
                             [starts[i] for i in members], epochs,
                             learning_rate)
    for i, result in zip(members, trained):
      out[i] = result
  return out


def _start(config, run: CnnRun) -> tuple[jax.Array, cnn.Params]:
  """(training key, initial params) as `cnn.train_cnn` draws them."""
  init_key, key = jax.random.split(run.key)
  if run.init_params is not None:
    return key, run.init_params
  num_classes = run.num_classes or int(np.max(run.y)) + 1
  return key, cnn.init_cnn(init_key, config, num_classes,
                           np.shape(run.x)[1:])


def _pad(a: np.ndarray, rows: int) -> np.ndarray:
  """`a` with zero rows appended up to `rows`."""
  return np.concatenate([a, np.zeros((rows - a.shape[0],) + a.shape[1:],
                                     a.dtype)])


def _stack(trees):
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def _unstack(tree, r: int):
  return jax.tree.map(lambda leaf: leaf[r], tree)


def _epoch_plan(keys, sizes: Sequence[int], batch_size: int, epoch: int):
  """Each run's minibatches and dropout keys of one epoch, drawn as
  `cnn.train_cnn` draws them, padded to the longest run: row indices
  int32[S, R, b], key data uint32[S, R, ...] and the step mask bool[S, R]."""
  steps = [n // batch_size for n in sizes]
  n_steps = max(steps)
  idx = np.zeros((n_steps, len(sizes), batch_size), np.int32)
  active = np.zeros((n_steps, len(sizes)), bool)
  key_data = None
  for r, (key, n, s) in enumerate(zip(keys, sizes, steps)):
    perm_key, drop_key = jax.random.split(jax.random.fold_in(key, epoch))
    idx[:s, r] = np.asarray(jax.random.permutation(perm_key, n))[
        :s * batch_size].reshape(s, batch_size)
    data = np.asarray(jax.random.key_data(jax.random.split(drop_key, s)))
    if key_data is None:
      key_data = np.zeros((n_steps, len(sizes)) + data.shape[1:], data.dtype)
    key_data[:s, r] = data
    active[:s, r] = True
  return idx, key_data, active


@functools.partial(jax.jit, static_argnums=(0, 1))
def _stacked_step(model, tx, params, opt_state, x, y, idx, key_data, active):
  """One step of every run: params/opt_state stacked [R, ...], rows
  x [R, N, H, W, C], y [R, N], minibatch rows idx [R, b], dropout key data
  [R, ...], active bool[R] (an inactive run keeps its state)."""

  def one(p, o, x_r, y_r, idx_r, kd, act):
    new_p, new_o, loss, acc = cnn.train_step(
        model, tx, p, o, x_r[idx_r], y_r[idx_r],
        jax.random.wrap_key_data(kd))
    keep = lambda new, old: jnp.where(act, new, old)
    return (jax.tree.map(keep, new_p, p), jax.tree.map(keep, new_o, o),
            loss, acc)

  return jax.vmap(one)(params, opt_state, x, y, idx, key_data, active)


def _train_stacked(config, runs: Sequence[CnnRun], starts, epochs: int,
                   learning_rate: float):
  """Runs of equal head and minibatch size, their steps vmapped."""
  sizes = [len(r.x) for r in runs]
  batch_size = min(config.batch_size, sizes[0])
  n_max = max(sizes)
  x = jnp.asarray(np.stack([_pad(np.asarray(r.x, np.float32), n_max)
                            for r in runs]))
  y = jnp.asarray(np.stack([_pad(np.asarray(r.y, np.int32), n_max)
                            for r in runs]))
  keys = [key for key, _ in starts]
  params = _stack([p for _, p in starts])
  model = cnn.make_model(config.model, cnn.num_classes_of(starts[0][1]))
  tx = cnn.make_optimizer(config, learning_rate)
  opt_state = jax.vmap(tx.init)(params)
  histories = [{'loss': [], 'accuracy': []} for _ in runs]
  best = [(-1.0, None)] * len(runs)
  for r, run in enumerate(runs):
    if run.validation is not None:
      histories[r]['val_accuracy'] = []
  for e in range(epochs):
    idx, key_data, active = _epoch_plan(keys, sizes, batch_size, e)
    losses, accs = [], []
    for s in range(idx.shape[0]):
      params, opt_state, loss, acc = _stacked_step(
          model, tx, params, opt_state, x, y, idx[s], key_data[s], active[s])
      losses.append(loss)
      accs.append(acc)
    losses, accs = (np.asarray(jax.device_get(v)) for v in (losses, accs))
    for r, run in enumerate(runs):
      h, on = histories[r], active[:, r]
      h['loss'].append(float(np.mean(losses[on, r])))
      h['accuracy'].append(float(np.mean(accs[on, r])))
      if run.validation is not None:
        p = _unstack(params, r)
        pred = cnn.predict_log_probs(p, run.validation[0], config).argmax(1)
        val_acc = float(np.mean(pred == np.asarray(run.validation[1])))
        h['val_accuracy'].append(val_acc)
        if val_acc > best[r][0]:
          best[r] = (val_acc, p)
          h['best_epoch'] = e
  out = []
  for r, run in enumerate(runs):
    keep_best = run.validation is not None and epochs
    out.append((best[r][1] if keep_best else _unstack(params, r),
                histories[r]))
  return out
