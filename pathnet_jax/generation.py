"""One generation (ask -> train -> evaluate -> tell) as one pure, jitted
function of explicit state, and the lax.scan of K generations.

The host-side API (`evolve.evolve`, checkpoints, progress) and the batched
protocol engine (`runs`) are built on this module; it imports neither.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np

from pathnet_jax import ga as ga_lib
from pathnet_jax import parallel
from pathnet_jax import pathway
from pathnet_jax import train as train_lib

HISTORY_KEYS = ('best_fitness', 'mean_fitness', 'tournament_fitness', 'loss',
                'skipped_steps')
# Recorded beside a fitness measured on other rows than the training rows
# (config.fitness != 'train'): the tournament pathways' accuracy on their
# training rows, so a curve shows where the two part. Under the paper's
# fitness it would equal tournament_fitness, so it is not recorded.
TRAIN_ACCURACY = 'train_accuracy'


def history_keys(config) -> tuple[str, ...]:
  """The per-generation entries a run's history holds."""
  if config.fitness == 'train':
    return HISTORY_KEYS
  return HISTORY_KEYS + (TRAIN_ACCURACY,)


@flax.struct.dataclass
class EvolveState:
  """Everything a run needs to continue: a killed run resumes from this.

  Attributes:
    params: shared PathNet parameters. opt_state: optimiser state.
    ga: GAState. key: uint32 key data of the run's PRNG key.
    history: dict of [G] arrays, one entry per generation (history_keys).
    occupancy: float32[L, M], summed over the generations so far: how many
      members of the population (after each generation's tell) use each
      module — the pathway map's heat (issue 33).
  """
  params: Any
  opt_state: Any
  ga: ga_lib.GAState
  key: jax.Array
  history: dict[str, jax.Array]
  occupancy: jax.Array


@dataclasses.dataclass
class EvolveResult:
  """What an evolution returns.

  best_genotype: int32[L, N]; params: trained parameters; history: dict of
  numpy [G] arrays (best/mean/tournament fitness, loss, skipped steps,
  the tournament's training accuracy beside a held-out fitness, seconds per
  generation); state: the final EvolveState; steps_per_pathway:
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
  # Generations run: `generations`, or fewer when evolution.patience
  # stopped the run; and the best pathway's SGD steps after them (the
  # 'final' phase on all training rows, evolution.heldout_training). With
  # a final phase, `params` are the weights after it and `state` holds the
  # evolution's own last weights.
  generations_run: int = 0
  final_steps: int = 0

def init_state(key: jax.Array, config, params, tx) -> EvolveState:
  k_ga, k_run = jax.random.split(key)
  g = int(config.evolution.generations)
  history = {k: jnp.zeros((g,), jnp.int32 if k == 'skipped_steps'
                          else jnp.float32) for k in history_keys(config)}
  mc = config.model
  return EvolveState(params=params, opt_state=tx.init(params),
                     ga=ga_lib.init(k_ga, config),
                     key=jax.random.key_data(k_run), history=history,
                     occupancy=jnp.zeros((mc.num_layers, mc.num_modules),
                                         jnp.float32))


@flax.struct.dataclass
class RunData:
  """What one run trains and measures fitness on, on device.

  The rows of a protocol's runs are padded to the largest run's, so that one
  compiled program serves every fold and seed; counts say what is real.

  Attributes:
    x: [N, ...] training rows (layer 1's view, or raw segments when they are
      augmented per batch); y: int32[N]; n: int32[] real rows.
    fit_x, fit_y, fit_n: the rows fitness is measured on, the same way (the
      training rows in the paper).
    steps: int32[] SGD steps per pathway, T <= the program's static maximum.
    frozen: bool[L, M] modules that never change.
    always_idx, always_w: int32/float32[L, F] slots of frozen modules that
      join every pathway (F = 0: none).
  """
  x: jax.Array
  y: jax.Array
  n: jax.Array
  fit_x: jax.Array
  fit_y: jax.Array
  fit_n: jax.Array
  steps: jax.Array
  frozen: jax.Array
  always_idx: jax.Array
  always_w: jax.Array


def generation(state: EvolveState, data: RunData, *, tx, num_steps: int,
               batch_size: int, eval_batch_size: int, mode: str,
               aggregate: str, compute: str, dropout_rate: float,
               augment: Callable | None, tiebreak_loss: bool,
               fitness_metric: str, max_passes: int | None = None,
               one_capacity: bool = False, mesh=None,
               loss: str = 'cross_entropy', head_l2: float = 0.0
               ) -> tuple[EvolveState, dict]:
  """One generation: ask -> train the tournament pathways -> fitness -> tell.

  Args:
    data: the run's RunData; `num_steps` is the static maximum of
      `data.steps`, `max_passes` the shuffled passes any run's rows need
      (None: the rows are not padded).
    fitness_metric: 'accuracy' on the fitness rows, or 'loss' (fitness is
      the negated mean loss; no tie-break then).
    one_capacity: evaluate fitness with one union size (see train.evaluate;
      for runs batched with vmap).
    mesh: optional parallel.make_mesh() mesh: the P pathways are split over
      its 'pathways' axis and minibatch rows over 'data'; state and summary
      come back replicated.
  """
  key = jax.random.wrap_key_data(state.key)
  key, k_ask, k_train, k_tell = jax.random.split(key, 4)
  candidates = ga_lib.ask(k_ask, state.ga)
  genotypes = state.ga.genotypes[candidates]  # [P, L, N]
  num_fixed = data.always_idx.shape[-1]
  if num_fixed:
    indices, weights = pathway.slots(genotypes, data.always_idx,
                                     data.always_w)
  else:
    indices, weights = pathway.slots(genotypes)
  path_keys = jax.random.split(k_train, candidates.shape[0])
  if mesh is not None:
    indices, weights, path_keys, augment = parallel.shard_training(
        mesh, indices, weights, path_keys, augment)
  params, opt_state, stats = train_lib.train_pathways(
      state.params, state.opt_state, indices, weights, data.x, data.y,
      path_keys, tx=tx, frozen=data.frozen, num_steps=num_steps,
      batch_size=batch_size, mode=mode, aggregate=aggregate, compute=compute,
      dropout_rate=dropout_rate, augment=augment, num_fixed=num_fixed,
      steps=data.steps, n_rows=data.n, max_passes=max_passes, loss=loss,
      head_l2=head_l2)
  fitness, fit_loss = train_lib.evaluate(
      params, indices, weights, data.fit_x, data.fit_y,
      batch_size=eval_batch_size, aggregate=aggregate, compute=compute,
      n_rows=data.fit_n, one_capacity=one_capacity)
  tiebreak = -fit_loss if tiebreak_loss else None
  if fitness_metric == 'loss':
    fitness, tiebreak = -fit_loss, None
  ga_state = ga_lib.tell(k_tell, state.ga, candidates, fitness,
                         tiebreak=tiebreak)
  g = state.ga.generation
  evaluated = jnp.isfinite(ga_state.fitness)
  mean_fit = jnp.sum(jnp.where(evaluated, ga_state.fitness, 0.0)) / jnp.maximum(
      evaluated.sum(), 1)
  summary = {'best_fitness': ga_state.best_fitness, 'mean_fitness': mean_fit,
             'tournament_fitness': fitness.mean(),
             'loss': stats['loss'].mean(), 'skipped_steps': stats['skipped']}
  if TRAIN_ACCURACY in state.history:  # a static choice: the pytree's keys
    # Raw (augmented) rows too: layer 1 takes its view of them, as in training.
    train_accuracy, _ = train_lib.evaluate(
        params, indices, weights, data.x, data.y,
        batch_size=eval_batch_size, aggregate=aggregate, compute=compute,
        n_rows=data.n, one_capacity=one_capacity)
    summary[TRAIN_ACCURACY] = train_accuracy.mean()
  history = {k: v.at[g].set(summary[k].astype(v.dtype))
             for k, v in state.history.items()}
  occupancy = state.occupancy + pathway.to_mask(
      ga_state.genotypes, state.occupancy.shape[-1]).sum(0)
  new_state = EvolveState(params=params, opt_state=opt_state, ga=ga_state,
                          key=jax.random.key_data(key), history=history,
                          occupancy=occupancy)
  if mesh is not None:  # same in and out shardings: one compilation
    new_state, summary = parallel.constrain((new_state, summary),
                                            parallel.replicated(mesh))
  return new_state, summary


def stopped(state: EvolveState, patience: int) -> jax.Array:
  """bool[]: the run's best fitness has not improved in its last `patience`
  generations (never with patience 0). Read from the history, so that a
  checkpoint needs nothing more: `best_fitness` never decreases, and 'not
  improved' is 'the same as `patience` generations earlier'."""
  if not patience:
    return jnp.zeros((), bool)
  done = state.ga.generation
  best = state.history['best_fitness']
  now = best[jnp.maximum(done - 1, 0)]
  before = best[jnp.maximum(done - 1 - patience, 0)]
  return (done > patience) & (now <= before)


def generations(state: EvolveState, data: RunData, *, count: int,
                total: int, patience: int = 0, **settings) -> EvolveState:
  """Up to `count` generations in one program (`lax.scan`); generations
  past `total`, or after the run has `stopped` (evolution.patience), leave
  the state as it is, so one compiled program serves a run's last, shorter
  stretch and every resume point. Per-generation summaries land in
  `state.history`. `settings`: those of `generation`."""
  def one(state, _):
    def step(state):
      return generation(state, data, **settings)[0]
    go = state.ga.generation < total
    if patience:
      go &= ~stopped(state, patience)
    return jax.lax.cond(go, step, lambda s: s, state), None
  return jax.lax.scan(one, state, None, length=count)[0]


def generation_settings(config, tx, steps: int, augment=None, *, mesh=None,
                        max_passes: int | None = None,
                        one_capacity: bool = False) -> dict[str, Any]:
  """The static keyword arguments of `generation` from a config."""
  ec, oc, mc = config.evolution, config.optim, config.model
  return dict(
      tx=tx, num_steps=int(steps), batch_size=int(oc.batch_size),
      eval_batch_size=int(oc.eval_batch_size),
      mode=ec.train_mode, aggregate=mc.aggregate, compute=mc.compute,
      dropout_rate=float(oc.input_dropout), augment=augment,
      tiebreak_loss=bool(ec.tiebreak_loss),
      fitness_metric=ec.fitness_metric,
      max_passes=max_passes, one_capacity=one_capacity, mesh=mesh,
      loss=oc.loss, head_l2=float(oc.head_l2))


def steps_for(config, n_train: int) -> int:
  """T: `evolution.steps_per_pathway`, or ceil(n_train / batch) * epochs."""
  ec = config.evolution
  return int(ec.steps_per_pathway or train_lib.steps_per_pathway(
      n_train, config.optim.batch_size, ec.epochs_per_pathway))


def run_data(x, y, fit_x=None, fit_y=None, frozen=None, always_idx=None,
             always_w=None, *, steps: int) -> RunData:
  """RunData of unpadded arrays (fitness on the training rows by default)."""
  x = jnp.asarray(x)
  fit_x = x if fit_x is None else jnp.asarray(fit_x)
  y = jnp.asarray(y, jnp.int32)
  fit_y = y if fit_y is None else jnp.asarray(fit_y, jnp.int32)
  if always_idx is None:
    always_idx = jnp.zeros((frozen.shape[0] if frozen is not None else 0, 0),
                           jnp.int32)
    always_w = jnp.zeros(always_idx.shape, jnp.float32)
  return RunData(x=x, y=y, n=jnp.int32(x.shape[0]), fit_x=fit_x, fit_y=fit_y,
                 fit_n=jnp.int32(fit_x.shape[0]), steps=jnp.int32(steps),
                 frozen=jnp.asarray(frozen, bool),
                 always_idx=jnp.asarray(always_idx, jnp.int32),
                 always_w=jnp.asarray(always_w, jnp.float32))


def make_generation_fn(config, tx, n_train: int, augment=None, *,
                       wrap: Callable | None = None, mesh=None):
  """jit(generation) for one run on unpadded rows, with the config's static
  settings bound: fn(state, x, y, fit_x, fit_y, frozen, always_idx,
  always_w) -> (state, summary).

  `wrap` (e.g. `chex.assert_max_traces(n=1)`) decorates the traced function;
  `mesh` shards it (see `generation`; inputs placed with parallel.place).
  Returns (jitted fn, T steps per pathway).
  """
  steps = steps_for(config, n_train)
  settings = generation_settings(config, tx, steps, augment, mesh=mesh)

  def one_generation(state, x, y, fit_x, fit_y, frozen, always_idx, always_w):
    data = run_data(x, y, fit_x, fit_y, frozen, always_idx, always_w,
                    steps=steps)
    return generation(state, data, **settings)

  return jax.jit(wrap(one_generation) if wrap else one_generation), steps
