"""Config checks: one clear error naming the field and its allowed values,
before any work."""
from __future__ import annotations

# --- fitness and patience ---
FITNESS = ('train', 'validation', 'heldout')
FITNESS_METRICS = ('accuracy', 'loss')
HELDOUT_TRAINING = ('never', 'final')


def check_fitness(config) -> None:
  """config.fitness, its held-out share, and evolution's fitness_metric,
  heldout_training, final_epochs and patience."""
  ec = config.evolution
  if config.fitness not in FITNESS:
    raise ValueError(f'config.fitness must be one of {FITNESS}, got '
                     f'{config.fitness!r}')
  if config.fitness != 'train' and not 0 < float(
      config.validation_fraction) < 1:
    raise ValueError('config.validation_fraction must be in (0, 1) with '
                     f'config.fitness={config.fitness!r}, got '
                     f'{config.validation_fraction}')
  if ec.fitness_metric not in FITNESS_METRICS:
    raise ValueError(f'evolution.fitness_metric must be one of '
                     f'{FITNESS_METRICS}, got {ec.fitness_metric!r}')
  if ec.fitness_metric == 'loss' and ec.tiebreak_loss:
    raise ValueError("evolution.tiebreak_loss must be False with "
                     "evolution.fitness_metric='loss' (the loss is the "
                     'fitness already)')
  if ec.heldout_training not in HELDOUT_TRAINING:
    raise ValueError(f'evolution.heldout_training must be one of '
                     f'{HELDOUT_TRAINING}, got {ec.heldout_training!r}')
  if ec.heldout_training == 'final' and config.fitness == 'train':
    raise ValueError("evolution.heldout_training='final' needs held-out "
                     "fitness rows: config.fitness must be 'validation' or "
                     "'heldout', got 'train'")
  if int(ec.final_epochs) < 1:
    raise ValueError(f'evolution.final_epochs must be >= 1, got '
                     f'{ec.final_epochs}')
  if int(ec.patience) < 0:
    raise ValueError(f'evolution.patience must be >= 0 (0: never stop '
                     f'early), got {ec.patience}')
