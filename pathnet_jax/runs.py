"""Many evolutions in one program: a protocol's runs advance together.

Users run protocols, not single evolutions: 5 random folds or 10-12
leave-one-speaker-out folds, times several seeds. Evolving them one at a
time compiles a program per fold (each fold's training set has its own
size) and pays a host round trip per generation. Here every run of a batch
shares one compiled program:

  * rows are padded to the batch's largest run and masked (sampling,
    fitness and the step count ignore padding), so shapes do not depend on
    the fold, and a persistent compilation cache serves later protocols;
  * one call advances runs by K generations (`gen_lib.generations`, a
    `lax.scan`), K = `evolution.checkpoint_every` (or a tenth of the run);
    logging, progress and checkpoints read the scanned history afterwards;
  * batching (`evolution.run_batching`): 'vmap' advances all R runs in one
    call (accelerators: R small models fill a device one cannot), 'loop'
    calls the same compiled program once per run (CPU, where vmap measured
    slower: docs/speed.md); 'auto' picks by backend;
  * a run of a batch gives exactly what it gives alone (R = 1, no padding)
    with the same key: same minibatches (train.permutation), same steps
    (later ones skipped), fitness counted on real rows only;
  * a run whose best fitness stalls for `evolution.patience` generations
    stops (its state stays as it is: 'loop' no longer calls it, 'vmap'
    masks it); the batch ends when every run has stopped or finished;
  * with held-out fitness rows and `evolution.heldout_training='final'`,
    each run's best pathway then trains on all its rows (`_final_phase`).

Checkpoints (orbax, asynchronous) hold the states of all runs, so a killed
batch resumes to the results it would have had.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
from typing import Any, Callable, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from pathnet_jax import checkpoint as ckpt_lib
from pathnet_jax import checks
from pathnet_jax import ga
from pathnet_jax import generation as gen_lib
from pathnet_jax import model as model_lib
from pathnet_jax import parallel
from pathnet_jax import pathway
from pathnet_jax import train as train_lib


@dataclasses.dataclass
class Run:
  """One evolution of a batch, as host arrays.

  Attributes:
    key: the run's PRNG key (what `evolve.evolve` takes).
    x: [n, ...] training rows; y: int[n] labels.
    fitness_x, fitness_y: rows fitness is measured on (default: x, y).
    frozen: optional bool[L, M] modules never updated (transfer).
    init_params: start from these parameters instead of a fresh init.
    num_classes: head width for a fresh init (default: max label + 1).
    name: how messages name the run, e.g. 'fold 3, seed 1'.
  """
  key: jax.Array
  x: np.ndarray
  y: np.ndarray
  fitness_x: np.ndarray | None = None
  fitness_y: np.ndarray | None = None
  frozen: np.ndarray | None = None
  init_params: Any = None
  num_classes: int | None = None
  name: str = 'run'


# progress(first, last, history, seconds): generations first+1..last just
# ran; history maps history_keys(config) to float arrays [R, last - first].
Progress = Callable[[int, int, dict[str, np.ndarray], float], None]


def batching_mode(config) -> str:
  """'loop' or 'vmap' from `evolution.run_batching` ('auto': by backend)."""
  mode = config.evolution.run_batching  # checked by checks.validate_config
  if mode == 'auto':
    return 'loop' if jax.default_backend() == 'cpu' else 'vmap'
  return mode


def generations_per_call(config) -> int:
  """K: checkpoint_every, or a tenth of the run when it never checkpoints."""
  every = int(config.evolution.checkpoint_every)
  total = int(config.evolution.generations)
  return min(total, every or max(1, math.ceil(total / 10)))


def _pad(a: np.ndarray, rows: int) -> np.ndarray:
  """`a` with zero rows appended up to `rows`."""
  if a.shape[0] == rows:
    return a
  return np.concatenate([a, np.zeros((rows - a.shape[0],) + a.shape[1:],
                                     a.dtype)])


@dataclasses.dataclass
class _Prepared:
  """The batch on device: initial states, data, and its static sizes."""
  states: list[gen_lib.EvolveState]
  data: list[gen_lib.RunData]
  steps: list[int]
  slots: list[tuple[np.ndarray, np.ndarray] | None]
  settings: dict[str, Any]
  # Per run: (training rows + held-out fitness rows, their labels), as
  # training sees them, for the 'final' phase; None: no final phase.
  final_rows: list[tuple[np.ndarray, np.ndarray] | None]


def _prepare(config, runs: Sequence[Run], tx, augment, mesh,
             one_capacity: bool) -> _Prepared:
  """Initial states and padded RunData of every run (checked first)."""
  states, run_params = [], []
  for run in runs:
    y = np.asarray(run.y)
    num_classes = int(run.num_classes or int(y.max()) + 1)
    try:
      checks.validate(config, run.x, y, num_classes)
    except ValueError as e:
      raise ValueError(f'{run.name}: {e}' if run.name else str(e)) from None
    k_init, k_run = jax.random.split(run.key)
    params = run.init_params if run.init_params is not None else (
        model_lib.init(k_init, config, run.x.shape[1:], num_classes))
    states.append(gen_lib.init_state(k_run, config, params, tx))
    run_params.append(params)

  # Layer 1's deterministic view (e.g. time pooling) once per run's rows,
  # on the host; with augmentation it is taken after each batch instead.
  # Runs that share host arrays (seeds of one fold) share device arrays.
  cache: dict[tuple[int, int], np.ndarray] = {}

  def view(rows, params, raw=False):
    key = (id(rows), raw)
    if key not in cache:
      rows32 = np.asarray(rows, np.float32)
      cache[key] = rows32 if raw else np.asarray(
          model_lib.layer1_input(params, rows32), np.float32)
    return cache[key]

  train_rows = [view(r.x, p, raw=augment is not None)
                for r, p in zip(runs, run_params)]
  fit_rows = [view(r.x if r.fitness_x is None else r.fitness_x, p)
              for r, p in zip(runs, run_params)]
  size = max(a.shape[0] for a in train_rows)
  fit_size = max(a.shape[0] for a in fit_rows)
  steps = [gen_lib.steps_for(config, r.x.shape[0]) for r in runs]
  batch = int(config.optim.batch_size)
  max_passes = max(math.ceil(t * batch / r.x.shape[0])
                   for t, r in zip(steps, runs))

  m, num_layers = config.model.num_modules, config.model.num_layers
  joins = config.evolution.frozen_always_active
  widths = [int(np.asarray(r.frozen, bool).sum(axis=1).max())
            for r in runs if r.frozen is not None and joins]
  width = max(widths) if widths and max(widths) > 0 else 0
  device: dict[tuple[int, ...], jax.Array] = {}

  def put(a, rows, dtype=None):
    key = (id(a), rows)
    if key not in device:
      device[key] = jnp.asarray(_pad(np.asarray(a, dtype), rows))
    return device[key]

  data, slots = [], []
  for run, x, fx, t in zip(runs, train_rows, fit_rows, steps):
    frozen = (np.zeros((num_layers, m), bool) if run.frozen is None
              else np.asarray(run.frozen, bool))
    slot = (pathway.frozen_slots(frozen, width)
            if width and frozen.any() else None)
    slots.append(slot)
    if slot is None:  # no frozen modules join: weight-0 slots, no-ops
      slot = _widen(None, num_layers, width)
    fy = run.y if run.fitness_y is None else run.fitness_y
    data.append(gen_lib.RunData(
        x=put(x, size), y=put(run.y, size, np.int32),
        n=jnp.int32(x.shape[0]), fit_x=put(fx, fit_size),
        fit_y=put(fy, fit_size, np.int32),
        fit_n=jnp.int32(fx.shape[0]), steps=jnp.int32(t),
        frozen=jnp.asarray(frozen), always_idx=jnp.asarray(slot[0]),
        always_w=jnp.asarray(slot[1])))
  settings = gen_lib.generation_settings(
      config, tx, max(steps), augment, mesh=mesh, max_passes=max_passes,
      one_capacity=one_capacity)
  final_rows = [None] * len(runs)
  if config.evolution.heldout_training == 'final':
    final_rows = [None if r.fitness_x is None else (
        np.concatenate([x, view(r.fitness_x, p, raw=augment is not None)]),
        np.concatenate([r.y, r.fitness_y]).astype(np.int32))
                  for r, x, p in zip(runs, train_rows, run_params)]
  return _Prepared(states=states, data=data, steps=steps, slots=slots,
                   settings=settings, final_rows=final_rows)


def _stack(trees):
  return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *trees)


def _unstack(tree, count: int):
  return [jax.tree_util.tree_map(lambda a, i=i: a[i], tree)
          for i in range(count)]


class _Batch:
  """The runs' states as the batching mode keeps them between calls: a
  list (loop) or one stacked pytree [R, ...] (vmap)."""

  def __init__(self, mode: str, fn, states, data, total: int,
               patience: int):
    self.mode, self.fn, self.count = mode, fn, len(states)
    self.total, self.patience = total, patience
    if mode == 'vmap':
      self.states, self.data = _stack(states), _stack(data)
    else:
      self.states, self.data = list(states), list(data)

  def finished(self) -> np.ndarray:
    """bool[R]: runs that have run every generation or stopped (waits)."""
    def one(state):
      return bool(state.ga.generation >= self.total) or bool(
          gen_lib.stopped(state, self.patience))
    return np.array([one(s) for s in self.as_list()])

  def advance(self) -> None:
    """One call's worth of generations for every run (asynchronous; 'loop'
    skips finished runs, which the call would leave unchanged anyway)."""
    if self.mode == 'vmap':
      self.states = self.fn(self.states, self.data)
      return
    skip = (self.finished() if self.patience else
            np.zeros((self.count,), bool))
    self.states = [s if done else self.fn(s, d)
                   for s, d, done in zip(self.states, self.data, skip)]

  def history(self, start: int, stop: int) -> dict[str, np.ndarray]:
    """history_keys -> [R, stop - start] (waits for the call). After a run
    stopped (patience) its best fitness stays what it was and its other
    float entries are NaN: those generations did not run."""
    if self.mode == 'vmap':
      out = {k: np.array(v[:, start:stop])
             for k, v in self.states.history.items()}
    else:
      out = {k: np.stack([np.asarray(s.history[k][start:stop])
                          for s in self.states])
             for k in self.states[0].history}
    if not self.patience:
      return out
    for r, state in enumerate(self.as_list()):
      ran = int(state.ga.generation) - start
      if ran >= stop - start:
        continue
      best = float(state.history['best_fitness'][start + ran - 1]) if (
          start + ran) else -np.inf
      out['best_fitness'][r, max(ran, 0):] = best
      for k, v in out.items():
        if k != 'best_fitness' and v.dtype.kind == 'f':
          v[r, max(ran, 0):] = np.nan
    return out

  def as_list(self) -> list[gen_lib.EvolveState]:
    if self.mode == 'vmap':
      return _unstack(self.states, self.count)
    return self.states


def evolve_runs(config, runs: Sequence[Run], *, workdir: str | None = None,
                augment: Callable | None = None,
                progress: Progress | None = None, mesh=None,
                batching: str | None = None
                ) -> list[gen_lib.EvolveResult]:
  """Evolve every run of `runs` with the microbial GA, all together.

  Args:
    config: ConfigDict with `model`, `evolution`, `optim` sections.
    runs: the evolutions; their rows may differ in number (not in shape).
    workdir: if given, the states of all runs are checkpointed there every
      `evolution.checkpoint_every` generations and a rerun resumes from it
      (the same runs in the same order: give each batch its own workdir).
    augment: optional `augment(key, x_batch) -> x_batch` applied on device.
    progress: optional callback after each call (see `Progress`).
    mesh: a parallel.make_mesh() mesh to shard over; default: the one
      `config.parallel` asks for (none without that section).
    batching: 'loop' or 'vmap'; default from `evolution.run_batching`.

  Returns:
    One EvolveResult per run, in order.
  """
  if not runs:
    raise ValueError('no runs to evolve')
  checks.validate_config(config)
  mode = batching or batching_mode(config)
  if mesh is None:
    mesh = parallel.mesh_from_config(config)
  tx = train_lib.make_optimizer(config)
  prep = _prepare(config, runs, tx, augment, mesh,
                  one_capacity=mode == 'vmap')
  total = int(config.evolution.generations)
  patience = int(config.evolution.patience)
  fn = functools.partial(gen_lib.generations,
                         count=generations_per_call(config), total=total,
                         patience=patience, **prep.settings)
  fn = jax.jit(jax.vmap(fn) if mode == 'vmap' else fn)

  with (ckpt_lib.saving(workdir) if workdir else
        contextlib.nullcontext()) as mngr:
    states, data = prep.states, prep.data
    start = 0
    if mngr is not None:
      step, states = ckpt_lib.restore_latest(mngr, states)
      if step is not None:
        start = int(step)
        logging.info('resumed %d run(s) from generation %d in %s',
                     len(runs), start, workdir)
    if mesh is not None:  # run data and states live on every device
      states, data = parallel.place((states, data),
                                    parallel.replicated(mesh))
      logging.info('evolving %d run(s) on %s', len(runs),
                   parallel.describe(mesh))
    batch = _Batch(mode, fn, states, data, total, patience)
    seconds, loop_s = _loop(config, runs, prep, batch, start, mngr,
                            progress)
  states = batch.as_list()
  finals = _final_phase(config, prep, states, tx, augment)
  results = []
  for state, final, t, slot in zip(states, finals, prep.steps, prep.slots):
    ran = int(state.ga.generation)  # < total when patience stopped it
    hist = {k: np.asarray(v)[:ran] for k, v in state.history.items()}
    hist['seconds'] = seconds[:ran].copy()
    params, final_steps = (state.params, 0) if final is None else final
    results.append(gen_lib.EvolveResult(
        best_genotype=np.asarray(state.ga.best_genotype),
        best_fitness=float(state.ga.best_fitness), params=params,
        history=hist, state=state, steps_per_pathway=t, seconds=loop_s,
        frozen_slots=slot, generations_run=ran, final_steps=final_steps))
  return results


def final_steps_for(config, n_rows: int) -> int:
  """SGD steps of the 'final' phase: `evolution.final_epochs` passes over
  a run's n_rows (training + held-out) rows."""
  return train_lib.steps_per_pathway(n_rows, config.optim.batch_size,
                                     int(config.evolution.final_epochs))


def _final_phase(config, prep: _Prepared, states, tx, augment):
  """Per run: None, or (params, steps) after its best pathway trained on
  all its rows (prep.final_rows) with the evolution's optimiser state;
  frozen modules stay frozen. One compiled program for every run (rows
  padded as for evolution); keyed by the run's own final key, so a resumed
  run ends the same."""
  todo = [i for i, rows in enumerate(prep.final_rows) if rows is not None]
  out = [None] * len(states)
  if not todo:
    return out
  batch = int(config.optim.batch_size)
  sizes = {i: prep.final_rows[i][0].shape[0] for i in todo}
  steps = {i: final_steps_for(config, n) for i, n in sizes.items()}
  size, num_steps = max(sizes.values()), max(steps.values())
  max_passes = max(math.ceil(steps[i] * batch / sizes[i]) for i in todo)
  settings = prep.settings
  num_fixed = prep.data[0].always_idx.shape[-1]

  @jax.jit
  def train_best(state, data, x, y, n, t):
    genotype = state.ga.best_genotype[None]
    if num_fixed:
      idx, w = pathway.slots(genotype, data.always_idx, data.always_w)
    else:
      idx, w = pathway.slots(genotype)
    key = jax.random.fold_in(jax.random.wrap_key_data(state.key), 1)
    params, opt_state, _ = train_lib.train_pathways(
        state.params, state.opt_state, idx, w, x, y, key[None], tx=tx,
        frozen=data.frozen, num_steps=num_steps, batch_size=batch,
        mode='sequential', aggregate=settings['aggregate'],
        compute=settings['compute'], dropout_rate=settings['dropout_rate'],
        augment=augment, num_fixed=num_fixed, steps=t, n_rows=n,
        max_passes=max_passes, loss=settings['loss'],
        head_l2=settings['head_l2'])
    return params

  for i in todo:
    x, y = prep.final_rows[i]
    params = train_best(states[i], prep.data[i], jnp.asarray(_pad(x, size)),
                        jnp.asarray(_pad(y, size)), jnp.int32(sizes[i]),
                        jnp.int32(steps[i]))
    out[i] = (params, steps[i])
  return out


def _loop(config, runs, prep, batch, start, mngr, progress):
  """The host loop: calls, checks, progress, checkpoints. Returns (seconds
  per generation [G], wall time of the loop)."""
  total = int(config.evolution.generations)
  per_call = generations_per_call(config)
  every = int(config.evolution.checkpoint_every)
  seconds = np.zeros((total,), np.float64)
  paths = ga.pathways_per_generation(config)
  max_skipped = float(config.evolution.max_skipped_fraction)
  sequential = config.evolution.train_mode == 'sequential'
  t_loop = time.perf_counter()
  g = start
  while g < total and not (batch.patience and batch.finished().all()):
    t0 = time.perf_counter()
    batch.advance()
    done = min(total, g + per_call)
    history = batch.history(g, done)
    elapsed = time.perf_counter() - t0
    seconds[g:done] = elapsed / (done - g)
    for run, t, skipped in zip(runs, prep.steps, history['skipped_steps']):
      for i, count in enumerate(skipped):
        try:
          checks.check_skipped_steps(
              g + i + 1, int(count), t * (paths if sequential else 1),
              max_skipped)
        except ValueError as e:
          raise ValueError(f'{run.name}: {e}' if run.name else str(e)
                           ) from None
    if progress is not None:
      progress(g, done, history, elapsed)
    g = done
    last = g == total or (batch.patience and batch.finished().all())
    if mngr is not None and every and (g % every == 0 or last):
      ckpt_lib.save(mngr, g, batch.as_list(), wait=False)
  return seconds, time.perf_counter() - t_loop


def log_probs(config, params: Sequence[Any], genotypes: Sequence[np.ndarray],
              frozen_slots: Sequence[tuple[np.ndarray, np.ndarray] | None],
              xs: Sequence[np.ndarray], batching: str | None = None
              ) -> list[np.ndarray]:
  """Each run's pathways on its rows, all runs in one jitted call.

  Args:
    params: each run's trained parameters (same shapes).
    genotypes: each run's pathways, int32[k_r, L, N] (an ensemble, or one).
    frozen_slots: each run's frozen slots (EvolveResult.frozen_slots).
    xs: each run's rows [n_r, ...] (e.g. its test fold).

  Returns:
    float32[k_r, n_r, C] log-probabilities per run. Rows and members are
    padded to the largest run's inside the call and cut off here.
  """
  mode = batching or batching_mode(config)
  num_layers = len(params[0]['layers'])
  width = max((s[0].shape[1] for s in frozen_slots if s is not None),
              default=0)
  k_max = max(g.shape[0] for g in genotypes)
  n_max = max(x.shape[0] for x in xs)
  idx, wts = [], []
  for g, slot in zip(genotypes, frozen_slots):
    g = np.concatenate([g, np.repeat(g[:1], k_max - g.shape[0], 0)])
    if width:
      if slot is None or slot[0].shape[1] < width:
        slot = _widen(slot, num_layers, width)
      i, w = pathway.slots(jnp.asarray(g), *slot)
    else:
      i, w = pathway.slots(jnp.asarray(g))
    idx.append(i)
    wts.append(w)
  x = jnp.stack([jnp.asarray(_pad(np.asarray(a), n_max)) for a in xs])
  score = functools.partial(
      train_lib.log_probs,
      batch_size=int(config.optim.eval_batch_size),
      aggregate=config.model.aggregate, compute=config.model.compute)

  def one_run(args):
    p, i, w, rows = args
    if mode == 'vmap':
      return jax.vmap(lambda a, b: score(p, a, b, rows))(i, w)
    return jax.lax.map(lambda iw: score(p, iw[0], iw[1], rows), (i, w))

  def all_runs(args):
    return (jax.vmap(one_run)(args) if mode == 'vmap' else
            jax.lax.map(one_run, args))

  out = np.asarray(jax.jit(all_runs)(
      (_stack(params), jnp.stack(idx), jnp.stack(wts), x)))
  return [out[r, :g.shape[0], :a.shape[0]]
          for r, (g, a) in enumerate(zip(genotypes, xs))]


def _widen(slot, num_layers: int, width: int):
  """Frozen slots padded to `width` with weight-0 entries (no-ops)."""
  if slot is None:
    return (np.zeros((num_layers, width), np.int32),
            np.zeros((num_layers, width), np.float32))
  idx, w = slot
  extra = width - idx.shape[1]
  return (np.concatenate([idx, np.repeat(idx[:, :1], extra, 1)], 1),
          np.concatenate([w, np.zeros((num_layers, extra), np.float32)], 1))
