"""One generation (ask -> train -> evaluate -> tell) as one jitted function,
and the Python loop around it that logs, checkpoints and resumes."""
from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Any, Callable

from absl import logging
import flax
import jax
import jax.numpy as jnp
import numpy as np

from pathnet_jax import checkpoint as ckpt_lib
from pathnet_jax import ga as ga_lib
from pathnet_jax import model as model_lib
from pathnet_jax import parallel
from pathnet_jax import pathway
from pathnet_jax import train as train_lib

HISTORY_KEYS = ('best_fitness', 'mean_fitness', 'tournament_fitness', 'loss',
                'skipped_steps')


@flax.struct.dataclass
class EvolveState:
  """Everything a run needs to continue: a killed run resumes from this.

  Attributes:
    params: shared PathNet parameters. opt_state: optimiser state.
    ga: GAState. key: uint32 key data of the run's PRNG key.
    history: dict of [G] arrays, one entry per generation (HISTORY_KEYS).
  """
  params: Any
  opt_state: Any
  ga: ga_lib.GAState
  key: jax.Array
  history: dict[str, jax.Array]


@dataclasses.dataclass
class EvolveResult:
  """What an evolution returns.

  best_genotype: int32[L, N]; params: trained parameters; history: dict of
  numpy [G] arrays (best/mean/tournament fitness, loss, skipped steps,
  seconds per generation); state: the final EvolveState; steps_per_pathway:
  T; seconds: wall time of the loop (compilation included).
  """
  best_genotype: np.ndarray
  best_fitness: float
  params: Any
  history: dict[str, np.ndarray]
  state: EvolveState
  steps_per_pathway: int
  seconds: float
  frozen_slots: tuple[np.ndarray, np.ndarray] | None = None


def frozen_slots(frozen: np.ndarray | None):
  """bool[L, M] -> (indices int32[L, F], weights float32[L, F]) or None.

  Padding entries repeat a real index with weight 0 (see pathway.slots).
  """
  if frozen is None:
    return None
  frozen = np.asarray(frozen, bool)
  width = max(1, int(frozen.sum(axis=1).max()))
  idx = np.zeros((frozen.shape[0], width), np.int32)
  wts = np.zeros((frozen.shape[0], width), np.float32)
  for l, row in enumerate(frozen):
    active = np.flatnonzero(row)
    if active.size:
      idx[l, :active.size], wts[l, :active.size] = active, 1.0
      idx[l, active.size:] = active[0]
  return idx, wts


def init_state(key: jax.Array, config, params, tx) -> EvolveState:
  k_ga, k_run = jax.random.split(key)
  g = int(config.evolution.generations)
  history = {k: jnp.zeros((g,), jnp.int32 if k == 'skipped_steps'
                          else jnp.float32) for k in HISTORY_KEYS}
  return EvolveState(params=params, opt_state=tx.init(params),
                     ga=ga_lib.init(k_ga, config),
                     key=jax.random.key_data(k_run), history=history)


def generation(state: EvolveState, x, y, fit_x, fit_y, frozen, always_idx,
               always_w, *, tx, num_steps: int, batch_size: int,
               eval_batch_size: int, mode: str, aggregate: str, compute: str,
               dropout_rate: float, augment: Callable | None,
               tiebreak_loss: bool, mesh=None) -> tuple[EvolveState, dict]:
  """One generation: ask -> train the tournament pathways -> fitness -> tell.

  Args:
    x, y: training rows [n, ...] and labels int32[n], on device.
    fit_x, fit_y: the rows fitness is measured on (the training rows in the
      paper; a held-out validation split otherwise).
    frozen: bool[L, M]; always_idx/always_w: [L, F] slots of frozen modules
      that join every pathway, or None.
    mesh: optional parallel.make_mesh() mesh: the P pathways are split over
      its 'pathways' axis and minibatch rows over 'data'; state and summary
      come back replicated.
  """
  key = jax.random.wrap_key_data(state.key)
  key, k_ask, k_train, k_tell = jax.random.split(key, 4)
  candidates = ga_lib.ask(k_ask, state.ga)
  genotypes = state.ga.genotypes[candidates]  # [P, L, N]
  indices, weights = pathway.slots(genotypes, always_idx, always_w)
  path_keys = jax.random.split(k_train, candidates.shape[0])
  if mesh is not None:
    indices, weights, path_keys, augment = parallel.shard_training(
        mesh, indices, weights, path_keys, augment)
  params, opt_state, stats = train_lib.train_pathways(
      state.params, state.opt_state, indices, weights, x, y, path_keys, tx=tx,
      frozen=frozen, num_steps=num_steps, batch_size=batch_size, mode=mode,
      aggregate=aggregate, compute=compute, dropout_rate=dropout_rate,
      augment=augment,
      num_fixed=0 if always_idx is None else always_idx.shape[-1])
  fitness, fit_loss = train_lib.evaluate(
      params, indices, weights, fit_x, fit_y, batch_size=eval_batch_size,
      aggregate=aggregate, compute=compute)
  ga_state = ga_lib.tell(k_tell, state.ga, candidates, fitness,
                         tiebreak=-fit_loss if tiebreak_loss else None)
  g = state.ga.generation
  evaluated = jnp.isfinite(ga_state.fitness)
  mean_fit = jnp.sum(jnp.where(evaluated, ga_state.fitness, 0.0)) / jnp.maximum(
      evaluated.sum(), 1)
  summary = {'best_fitness': ga_state.best_fitness, 'mean_fitness': mean_fit,
             'tournament_fitness': fitness.mean(),
             'loss': stats['loss'].mean(), 'skipped_steps': stats['skipped']}
  history = {k: v.at[g].set(summary[k].astype(v.dtype))
             for k, v in state.history.items()}
  new_state = EvolveState(params=params, opt_state=opt_state, ga=ga_state,
                          key=jax.random.key_data(key), history=history)
  if mesh is not None:  # same in and out shardings: one compilation
    new_state, summary = parallel.constrain((new_state, summary),
                                            parallel.replicated(mesh))
  return new_state, summary


def make_generation_fn(config, tx, n_train: int, augment=None, *,
                       wrap: Callable | None = None, mesh=None):
  """jit(generation) with the config's static settings bound.

  `wrap` (e.g. `chex.assert_max_traces(n=1)`) decorates the traced function;
  `mesh` shards it (see `generation`; inputs placed with parallel.place).
  Returns (jitted fn, T steps per pathway).
  """
  ec, oc, mc = config.evolution, config.optim, config.model
  steps = int(ec.get('steps_per_pathway', 0) or train_lib.steps_per_pathway(
      n_train, oc.batch_size, ec.get('epochs_per_pathway', 1)))
  fn = functools.partial(
      generation, tx=tx, num_steps=steps, batch_size=int(oc.batch_size),
      eval_batch_size=int(oc.get('eval_batch_size', 1024)),
      mode=ec.train_mode, aggregate=mc.aggregate,
      compute=mc.get('compute', 'gather'),
      dropout_rate=float(oc.get('input_dropout', 0.0)), augment=augment,
      tiebreak_loss=bool(ec.get('tiebreak_loss', False)), mesh=mesh)

  def one_generation(state, x, y, fit_x, fit_y, frozen, always_idx, always_w):
    return fn(state, x, y, fit_x, fit_y, frozen, always_idx, always_w)

  return jax.jit(wrap(one_generation) if wrap else one_generation), steps


# A generation in which more of its training steps than this were skipped as
# non-finite stops the run (config.evolution.max_skipped_fraction).
MAX_SKIPPED_FRACTION = 0.5


def _require(ok: bool, field: str, allowed: str, value) -> None:
  if not ok:
    raise ValueError(f'{field} must be {allowed}, got {value!r}')


def validate_config(config) -> None:
  """Reject settings outside their meaning (one error naming the field and
  its allowed range) before any work; needs no data."""
  mc, ec, oc = config.model, config.evolution, config.optim
  for name in ('num_layers', 'num_modules', 'module_units'):
    _require(int(mc[name]) >= 1, f'model.{name}', '>= 1', mc[name])
  _require(1 <= int(mc.max_active) <= int(mc.num_modules), 'model.max_active',
           f'in [1, model.num_modules={mc.num_modules}]', mc.max_active)
  lr = float(oc.learning_rate)
  _require(math.isfinite(lr) and lr > 0, 'optim.learning_rate',
           'finite and > 0', lr)
  _require(int(oc.batch_size) >= 1, 'optim.batch_size', '>= 1', oc.batch_size)
  dropout = float(oc.get('input_dropout', 0.0))
  _require(0 <= dropout < 1, 'optim.input_dropout', 'in [0, 1)', dropout)
  _require(int(ec.generations) >= 1, 'evolution.generations', '>= 1',
           ec.generations)
  _require(int(ec.population_size) >= 2, 'evolution.population_size',
           '>= 2 (a tournament needs two)', ec.population_size)
  tournaments = int(ec.get('tournaments_per_generation', 1))
  half = int(ec.population_size) // 2
  _require(1 <= tournaments <= half, 'evolution.tournaments_per_generation',
           f'in [1, population_size // 2 = {half}]', tournaments)
  rate = ec.get('mutation_rate', None)
  _require(rate is None or 0 <= float(rate) <= 1, 'evolution.mutation_rate',
           'in [0, 1] (or None: 1 / (max_active * num_layers))', rate)
  every = int(ec.get('checkpoint_every', 0) or 0)
  _require(every >= 0, 'evolution.checkpoint_every', '>= 0 (0: never)', every)
  skipped = float(ec.get('max_skipped_fraction', MAX_SKIPPED_FRACTION))
  _require(0 <= skipped <= 1, 'evolution.max_skipped_fraction', 'in [0, 1]',
           skipped)
  _require(ec.train_mode in train_lib.MODES, 'evolution.train_mode',
           f'one of {train_lib.MODES}', ec.train_mode)


def check_skipped_steps(generation: int, skipped: int, total: int,
                        max_fraction: float) -> None:
  """Stop a run whose steps were mostly skipped as non-finite: it would
  otherwise go on training nothing and report chance accuracy."""
  if skipped > max_fraction * total:
    raise ValueError(
        f'generation {generation}: {skipped} of {total} training steps were '
        f'skipped as non-finite (more than evolution.max_skipped_fraction='
        f'{max_fraction}); lower optim.learning_rate or check the input '
        'features for NaN/inf')


def validate(config, train_x, train_y, num_classes: int | None = None) -> None:
  """Reject configs and data that would fail deep inside JAX."""
  validate_config(config)
  oc = config.optim
  n = int(train_x.shape[0])
  if n == 0:
    raise ValueError('training set is empty')
  if train_y.shape[0] != n:
    raise ValueError(f'train_x has {n} rows but train_y has '
                     f'{train_y.shape[0]}')
  if int(oc.batch_size) > n:
    raise ValueError(f'optim.batch_size must be in [1, n_train={n}], got '
                     f'{oc.batch_size}')
  if num_classes is not None and (np.min(train_y) < 0 or
                                  np.max(train_y) >= num_classes):
    raise ValueError(f'labels must be in [0, {num_classes}), got range '
                     f'[{np.min(train_y)}, {np.max(train_y)}]')


def evolve(key: jax.Array, config, train_x, train_y, *, frozen=None,
           init_params=None, workdir: str | None = None, fitness_x=None,
           fitness_y=None, num_classes: int | None = None, augment=None,
           progress: Callable[[int, dict], None] | None = None,
           mesh=None) -> EvolveResult:
  """Evolve pathways on (train_x, train_y) with the microbial GA.

  Args:
    key: the run's PRNG key (same key -> same result on the same device kind).
    config: ConfigDict with `model`, `evolution`, `optim` sections.
    train_x: [n, ...] float inputs; train_y: int[n] labels.
    frozen: optional bool[L, M] modules never updated; with
      `evolution.frozen_always_active` (the paper) they join every pathway.
    init_params: start from these parameters (transfer) instead of a fresh init.
    workdir: if given, the whole state is checkpointed there every
      `evolution.checkpoint_every` generations and a rerun resumes from it.
    fitness_x, fitness_y: rows to measure fitness on (default: training rows).
    num_classes: head width for a fresh init (default: max label + 1).
    augment: optional `augment(key, x_batch) -> x_batch` applied on device.
    progress: optional callback(generation, summary dict of floats).
    mesh: a parallel.make_mesh() mesh to shard over; default: the one
      `config.parallel` asks for (none without that section).
  """
  train_y = np.asarray(train_y)
  num_classes = int(num_classes or int(train_y.max()) + 1)
  validate(config, train_x, train_y, num_classes)
  k_init, k_run = jax.random.split(key)
  params = init_params if init_params is not None else model_lib.init(
      k_init, config, train_x.shape[1:], num_classes)
  tx = train_lib.make_optimizer(config)
  state = init_state(k_run, config, params, tx)

  # Layer 1's deterministic view (e.g. time pooling) once per fold, not per
  # step; with augmentation the view is taken after augmenting each batch.
  # Taken on the host arrays (a flat view is free there) so that each set is
  # copied to the device once.
  def view(rows):
    return jnp.asarray(model_lib.layer1_input(
        params, np.asarray(rows, np.float32)), jnp.float32)

  fx = view(train_x if fitness_x is None else fitness_x)
  if augment is not None:
    x = jnp.asarray(train_x, jnp.float32)
  else:
    x = fx if fitness_x is None else view(train_x)
  y = jnp.asarray(train_y, jnp.int32)
  fy = y if fitness_y is None else jnp.asarray(fitness_y, jnp.int32)
  m, num_layers = config.model.num_modules, config.model.num_layers
  frozen_np = (np.zeros((num_layers, m), bool) if frozen is None
               else np.asarray(frozen, bool))
  slots_np = (frozen_slots(frozen_np) if frozen is not None and
              config.evolution.get('frozen_always_active', True) and
              frozen_np.any() else None)
  # Device arrays once, not a host-to-device copy at every generation call.
  always_idx, always_w = ((jnp.asarray(slots_np[0]), jnp.asarray(slots_np[1]))
                          if slots_np is not None else (None, None))
  if mesh is None:
    mesh = parallel.mesh_from_config(config)
  gen_fn, steps = make_generation_fn(config, tx, x.shape[0], augment,
                                     mesh=mesh)
  frozen_in = jnp.asarray(frozen_np)

  total = int(config.evolution.generations)
  every = int(config.evolution.get('checkpoint_every', 0) or 0)
  mngr = ckpt_lib.manager(workdir) if workdir else None
  start = 0
  if mngr is not None:
    step, state = ckpt_lib.restore_latest(mngr, state)
    if step is not None:
      start = int(step)
      logging.info('resumed from generation %d in %s', start, workdir)
  if mesh is not None:  # fold data and state live on every device
    rep = parallel.replicated(mesh)
    x, y, frozen_in, always_idx, always_w, state = parallel.place(
        (x, y, frozen_np, always_idx, always_w, state), rep)
    fx, fy = ((x, y) if fitness_x is None else
              parallel.place((fx, fy), rep))
    logging.info('evolving on %s', parallel.describe(mesh))
  seconds = np.zeros((total,), np.float64)
  paths_per_gen = 2 * state.ga.tournaments
  max_skipped = float(config.evolution.get('max_skipped_fraction',
                                           MAX_SKIPPED_FRACTION))
  # Optimiser updates a generation makes: one per pathway-step in sequential
  # mode, one per step for all pathways together in parallel mode.
  updates_per_gen = steps * (paths_per_gen if config.evolution.train_mode ==
                             'sequential' else 1)
  t_loop = time.perf_counter()
  for g in range(start, total):
    t0 = time.perf_counter()
    state, summary = gen_fn(state, x, y, fx, fy, frozen_in, always_idx,
                            always_w)
    summary = jax.tree_util.tree_map(lambda v: v.item(), summary)
    check_skipped_steps(g + 1, int(summary['skipped_steps']),
                        updates_per_gen, max_skipped)
    seconds[g] = time.perf_counter() - t0
    rate = paths_per_gen * steps / max(seconds[g], 1e-9)
    done = g + 1 - start
    eta = (time.perf_counter() - t_loop) / done * (total - g - 1)
    logging.info('gen %d/%d best %.4f mean %.4f loss %.4f  %.0f pathway-steps/s'
                 '  eta %.0fs', g + 1, total, summary['best_fitness'],
                 summary['mean_fitness'], summary['loss'], rate, eta)
    if progress is not None:
      progress(g + 1, {**summary, 'pathway_steps_per_s': rate})
    if mngr is not None and every and ((g + 1) % every == 0 or g + 1 == total):
      ckpt_lib.save(mngr, g + 1, state)
  if mngr is not None:
    mngr.close()
  history = {k: np.asarray(v) for k, v in state.history.items()}
  history['seconds'] = seconds
  return EvolveResult(
      best_genotype=np.asarray(state.ga.best_genotype),
      best_fitness=float(state.ga.best_fitness), params=state.params,
      history=history, state=state, steps_per_pathway=steps,
      seconds=time.perf_counter() - t_loop, frozen_slots=slots_np)
