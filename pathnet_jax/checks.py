"""Checks of a config's model / evolution / optim sections and of a run's
data: one error naming the field and its allowed range, before any work."""
from __future__ import annotations

import math

import numpy as np

from pathnet_jax import ga as ga_lib
from pathnet_jax import model as model_lib
from pathnet_jax import train as train_lib

# evolution.run_batching: how runs.evolve_runs puts a batch of runs on the
# device ('auto': loop on CPU, vmap on GPU/TPU; runs.batching_mode).
BATCHING = ('auto', 'loop', 'vmap')


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
  _require(oc.optimizer in train_lib.OPTIMIZERS, 'optim.optimizer',
           f'one of {train_lib.OPTIMIZERS}', oc.optimizer)
  _require(oc.loss in train_lib.LOSSES, 'optim.loss',
           f'one of {train_lib.LOSSES}', oc.loss)
  head_l2 = float(oc.head_l2)
  _require(math.isfinite(head_l2) and head_l2 >= 0, 'optim.head_l2',
           'finite and >= 0', head_l2)
  _require(not mc.head_skip or mc.module_type == 'dense', 'model.head_skip',
           "False with module_type='conv' (a skip path needs dense modules)",
           mc.head_skip)
  dropout = float(oc.input_dropout)
  _require(0 <= dropout < 1, 'optim.input_dropout', 'in [0, 1)', dropout)
  _require(int(ec.generations) >= 1, 'evolution.generations', '>= 1',
           ec.generations)
  _require(int(ec.population_size) >= 2, 'evolution.population_size',
           '>= 2 (a tournament needs two)', ec.population_size)
  tournaments = int(ec.tournaments_per_generation)
  half = int(ec.population_size) // 2
  _require(1 <= tournaments <= half, 'evolution.tournaments_per_generation',
           f'in [1, population_size // 2 = {half}]', tournaments)
  rate = ec.mutation_rate
  _require(rate is None or 0 <= float(rate) <= 1, 'evolution.mutation_rate',
           'in [0, 1] (or None: 1 / (max_active * num_layers))', rate)
  every = int(ec.checkpoint_every)
  _require(every >= 0, 'evolution.checkpoint_every', '>= 0 (0: never)', every)
  skipped = float(ec.max_skipped_fraction)
  _require(0 <= skipped <= 1, 'evolution.max_skipped_fraction', 'in [0, 1]',
           skipped)
  _require(ec.train_mode in train_lib.MODES, 'evolution.train_mode',
           f'one of {train_lib.MODES}', ec.train_mode)
  _require(ec.run_batching in BATCHING, 'evolution.run_batching',
           f'one of {BATCHING}', ec.run_batching)
  _require(ec.population_init in ga_lib.POPULATION_INITS,
           'evolution.population_init', f'one of {ga_lib.POPULATION_INITS}',
           ec.population_init)
  _require(ec.population_init != 'all_modules' or
           int(mc.max_active) == int(mc.num_modules), 'model.max_active',
           f"= model.num_modules={mc.num_modules} with evolution."
           "population_init='all_modules'", mc.max_active)
  _require(mc.module_type in model_lib.MODULE_TYPES, 'model.module_type',
           f'one of {model_lib.MODULE_TYPES}', mc.module_type)


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
