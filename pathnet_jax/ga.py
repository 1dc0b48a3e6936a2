"""Microbial genetic algorithm with binary tournaments, as pure functions.

evosax style: an immutable `GAState`, `init(key, config)`, `ask(key, state)`
and `tell(key, state, candidates, fitness)`. Several disjoint tournaments per
generation are allowed (`tournaments_per_generation`); the paper runs one.
"""
from __future__ import annotations

import flax
import jax
import jax.numpy as jnp

from pathnet_jax import pathway


@flax.struct.dataclass
class GAState:
  """Population and bookkeeping.

  Attributes:
    genotypes: int32[S, L, N].
    fitness: float32[S], last evaluated fitness (-inf before evaluation).
    generation: int32[], generations told so far.
    best_genotype: int32[L, N], best pathway evaluated so far.
    best_fitness: float32[].
    num_modules, mutation_rate, boundary, tournaments: static settings.
  """
  genotypes: jax.Array
  fitness: jax.Array
  generation: jax.Array
  best_genotype: jax.Array
  best_fitness: jax.Array
  num_modules: int = flax.struct.field(pytree_node=False, default=20)
  mutation_rate: float | None = flax.struct.field(pytree_node=False,
                                                  default=None)
  boundary: str = flax.struct.field(pytree_node=False, default='wrap')
  tournaments: int = flax.struct.field(pytree_node=False, default=1)


def pathways_per_generation(config) -> int:
  """2T: the pathways a generation trains and scores (T tournaments of two)."""
  return 2 * int(config.evolution.tournaments_per_generation)


# evolution.population_init: 'random' (PathNet), or every member the same
# pathway — 'one_random' (a random pathway) or 'all_modules' (every module
# of every layer, needs max_active = num_modules). With mutation_rate 0 the
# population never changes, so each generation trains that one pathway for
# the steps a tournament takes: the controls of experiments/lib/controls.py.
POPULATION_INITS = ('random', 'one_random', 'all_modules')


def initial_genotypes(key: jax.Array, config) -> jax.Array:
  """int32[S, L, N] first population (`evolution.population_init`)."""
  mc, ec = config.model, config.evolution
  size, how = int(ec.population_size), ec.population_init
  if how == 'all_modules':
    one = jnp.broadcast_to(jnp.arange(mc.num_modules, dtype=jnp.int32),
                           (mc.num_layers, mc.num_modules))
    return jnp.broadcast_to(one, (size,) + one.shape)
  genotypes = pathway.random_genotypes(key, size, mc.num_layers,
                                       mc.max_active, mc.num_modules)
  if how == 'one_random':
    return jnp.broadcast_to(genotypes[0], genotypes.shape)
  return genotypes


def init(key: jax.Array, config) -> GAState:
  """First population from `config.model` and `config.evolution` (checked
  by pathnet_jax.checks.validate_config)."""
  mc, ec = config.model, config.evolution
  genotypes = initial_genotypes(key, config)
  return GAState(
      genotypes=genotypes,
      fitness=jnp.full((ec.population_size,), -jnp.inf, jnp.float32),
      generation=jnp.zeros((), jnp.int32),
      best_genotype=genotypes[0],
      best_fitness=jnp.array(-jnp.inf, jnp.float32),
      num_modules=int(mc.num_modules),
      mutation_rate=ec.mutation_rate,
      boundary=ec.mutation_boundary,
      tournaments=int(ec.tournaments_per_generation))


def ask(key: jax.Array, state: GAState) -> jax.Array:
  """Distinct random members, int32[2 * tournaments]: pairs (0,1), (2,3), ..."""
  pop = state.genotypes.shape[0]
  order = jax.random.permutation(key, pop)
  return order[:2 * state.tournaments].astype(jnp.int32)


def tell(key: jax.Array, state: GAState, candidates: jax.Array,
         fitness: jax.Array, tiebreak: jax.Array | None = None) -> GAState:
  """Binary tournaments: each loser becomes a mutated copy of its winner.

  Args:
    key: PRNG key for mutation and random tie-breaking.
    state: current GAState.
    candidates: int32[2T] indices returned by `ask`.
    fitness: float32[2T] fitness of those members (higher is better).
    tiebreak: optional float32[2T], higher wins when fitness ties (e.g. the
      negated validation loss); without it ties are broken at random.

  The winner's genotype and fitness are left untouched.
  """
  pairs = candidates.reshape(-1, 2)
  fit = fitness.reshape(-1, 2)
  k_tie, k_mut = jax.random.split(key)
  if tiebreak is None:
    tie = jax.random.uniform(k_tie, fit.shape)
  else:
    tie = tiebreak.reshape(-1, 2)
  first_wins = (fit[:, 0] > fit[:, 1]) | (
      (fit[:, 0] == fit[:, 1]) & (tie[:, 0] >= tie[:, 1]))
  winner = jnp.where(first_wins, pairs[:, 0], pairs[:, 1])
  loser = jnp.where(first_wins, pairs[:, 1], pairs[:, 0])
  win_fit = jnp.where(first_wins, fit[:, 0], fit[:, 1])

  fitness_all = state.fitness.at[candidates].set(fitness)
  children = jax.vmap(
      lambda k, g: pathway.mutate(k, g, state.num_modules, state.mutation_rate,
                                  state.boundary))(
                                      jax.random.split(k_mut, winner.shape[0]),
                                      state.genotypes[winner])
  genotypes = state.genotypes.at[loser].set(children)
  # The child has not been evaluated yet; it inherits the parent's fitness as
  # an estimate (only used for reporting population means).
  fitness_all = fitness_all.at[loser].set(win_fit)

  best_idx = jnp.argmax(fitness)
  improved = fitness[best_idx] >= state.best_fitness
  best_genotype = jnp.where(improved,
                            state.genotypes[candidates[best_idx]],
                            state.best_genotype)
  best_fitness = jnp.where(improved, fitness[best_idx], state.best_fitness)
  return state.replace(genotypes=genotypes, fitness=fitness_all,
                       generation=state.generation + 1,
                       best_genotype=best_genotype, best_fitness=best_fitness)
