"""One generation (ask -> train -> evaluate -> tell) as one jitted function,
and the Python loop around it that logs, checkpoints and resumes."""
from __future__ import annotations

import dataclasses
import math
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


def init_state(key: jax.Array, config, params, tx) -> EvolveState:
  k_ga, k_run = jax.random.split(key)
  g = int(config.evolution.generations)
  history = {k: jnp.zeros((g,), jnp.int32 if k == 'skipped_steps'
                          else jnp.float32) for k in HISTORY_KEYS}
  return EvolveState(params=params, opt_state=tx.init(params),
                     ga=ga_lib.init(k_ga, config),
                     key=jax.random.key_data(k_run), history=history)


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
               max_passes: int | None = None, one_capacity: bool = False,
               mesh=None) -> tuple[EvolveState, dict]:
  """One generation: ask -> train the tournament pathways -> fitness -> tell.

  Args:
    data: the run's RunData; `num_steps` is the static maximum of
      `data.steps`, `max_passes` the shuffled passes any run's rows need
      (None: the rows are not padded).
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
      steps=data.steps, n_rows=data.n, max_passes=max_passes)
  fitness, fit_loss = train_lib.evaluate(
      params, indices, weights, data.fit_x, data.fit_y,
      batch_size=eval_batch_size, aggregate=aggregate, compute=compute,
      n_rows=data.fit_n, one_capacity=one_capacity)
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


def generations(state: EvolveState, data: RunData, *, count: int,
                total: int, **settings) -> EvolveState:
  """Up to `count` generations in one program (`lax.scan`); generations
  past `total` leave the state as it is, so one compiled program serves a
  run's last, shorter stretch and every resume point. Per-generation
  summaries land in `state.history`. `settings`: those of `generation`."""
  def one(state, _):
    def step(state):
      return generation(state, data, **settings)[0]
    return jax.lax.cond(state.ga.generation < total, step, lambda s: s,
                        state), None
  return jax.lax.scan(one, state, None, length=count)[0]


def generation_settings(config, tx, steps: int, augment=None, *, mesh=None,
                        max_passes: int | None = None,
                        one_capacity: bool = False) -> dict[str, Any]:
  """The static keyword arguments of `generation` from a config."""
  ec, oc, mc = config.evolution, config.optim, config.model
  return dict(
      tx=tx, num_steps=int(steps), batch_size=int(oc.batch_size),
      eval_batch_size=int(oc.get('eval_batch_size', 1024)),
      mode=ec.train_mode, aggregate=mc.aggregate,
      compute=mc.get('compute', 'gather'),
      dropout_rate=float(oc.get('input_dropout', 0.0)), augment=augment,
      tiebreak_loss=bool(ec.get('tiebreak_loss', False)),
      max_passes=max_passes, one_capacity=one_capacity, mesh=mesh)


def steps_for(config, n_train: int) -> int:
  """T: `evolution.steps_per_pathway`, or ceil(n_train / batch) * epochs."""
  ec = config.evolution
  return int(ec.get('steps_per_pathway', 0) or train_lib.steps_per_pathway(
      n_train, config.optim.batch_size, ec.get('epochs_per_pathway', 1)))


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
  """Evolve pathways on (train_x, train_y) with the microbial GA: one run,
  i.e. a batch of one (runs.evolve_runs), so it gives exactly what the
  same run gives inside a protocol's batch.

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
    progress: optional callback(generation, summary dict of floats, with
      'pathway_steps_per_s' of the call that ran it).
    mesh: a parallel.make_mesh() mesh to shard over; default: the one
      `config.parallel` asks for (none without that section).
  """
  from pathnet_jax import runs as runs_lib  # pylint: disable=g-import-not-at-top
  run = runs_lib.Run(
      key=key, x=np.asarray(train_x), y=np.asarray(train_y),
      fitness_x=None if fitness_x is None else np.asarray(fitness_x),
      fitness_y=None if fitness_y is None else np.asarray(fitness_y),
      frozen=frozen, init_params=init_params, num_classes=num_classes,
      name='')
  report = None
  if progress is not None:
    paths = 2 * int(config.evolution.get('tournaments_per_generation', 1))

    def report(first, last, history, seconds):
      rate = paths * steps_for(config, run.x.shape[0]) * (last - first) / max(
          seconds, 1e-9)
      for i in range(last - first):
        summary = {k: history[k][0, i].item() for k in HISTORY_KEYS}
        progress(first + i + 1, {**summary, 'pathway_steps_per_s': rate})
  return runs_lib.evolve_runs(config, [run], workdir=workdir, augment=augment,
                              progress=report, mesh=mesh)[0]
