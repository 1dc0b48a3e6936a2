"""THE config checks of the binaries: one clear error for a setting that
would otherwise fail deep in JAX or, worse, be silently ignored. Each binary
calls its check once, before it reads data or writes anything."""
from __future__ import annotations

from typing import Any, Mapping

from experiments.lib import cnn_runs
from experiments.lib import configs
from experiments.lib import controls
from experiments.lib import data
from experiments.lib import normalize
from experiments.lib import splits
from experiments.lib import views
from pathnet_jax import checks

# --- PathNet config (experiments/configs/default.py) ---

TASKS = ('scratch', 'transfer', 'multi_source')
MODALITIES = ('audio', 'video', 'image')


def check_config(config) -> None:
  """A PathNet config of experiments.train / ablation: every field known,
  each in its range (pathnet_jax.checks for the model, evolution and optim
  sections), corpora and view named correctly."""
  unknown = configs.unknown_fields(config)
  if unknown:
    raise ValueError(unknown)
  if config.task not in TASKS:
    raise ValueError(f'config.task must be one of {TASKS}, got {config.task!r}')
  if config.task != 'scratch' and not config.sources:
    raise ValueError(f'config.task={config.task!r} needs config.sources')
  controls.check(config)
  _indices(config, 'seeds')  # '--config.seeds=a,b': one line naming it
  for spec in (config.target, *config.sources):
    data.corpus_names(spec)  # unknown corpus or filter: fail before any work
  if config.modality not in MODALITIES:
    raise ValueError(f'config.modality must be one of {MODALITIES}, got '
                     f'{config.modality!r}')
  data.face_setting(config)  # config.faces
  checks.validate_config(config)
  if int(config.n_splits) < 0 or int(config.n_splits) == 1:
    raise ValueError(f'config.n_splits must be 0 (protocol default) or >= 2, '
                     f'got {config.n_splits}')
  check_fitness(config)
  if config.normalize not in normalize.MODES:
    raise ValueError(f'config.normalize must be one of {normalize.MODES}')
  view = views.of(config)  # an unknown view: one error naming the choices
  if view.functionals and config.modality != 'audio':
    raise ValueError(f'model.input_view={config.model.input_view!r} needs '
                     "audio (openSMILE functionals); config.modality is "
                     f'{config.modality!r}')
  if not 0 < float(config.train_fraction) <= 1:
    raise ValueError('config.train_fraction must be in (0, 1], got '
                     f'{config.train_fraction}')
  if float(config.data_memory_gb) < 0:
    raise ValueError('config.data_memory_gb must be >= 0 (0: always in '
                     f'memory), got {config.data_memory_gb}')
  if int(config.ensemble_size) < 1:
    raise ValueError('config.ensemble_size must be >= 1 (1 = the best '
                     f'pathway alone), got {config.ensemble_size}')
  if config.shared_classes_only and not config.sources:
    raise ValueError('config.shared_classes_only needs config.sources (the '
                     'corpora whose classes the target shares)')
  data.skip_settings(config)  # on_error and its ceiling


# --- ablation flags ---

SELECT_BY = ('utterance', 'speaker')


def check_ablation(variant_configs: Mapping[str, Any], select_fraction: float,
                   select_by: str) -> None:
  """An ablation: each variant's config (its base config with the variant's
  overrides), the share of training utterances held out for selection and
  how they are held out."""
  for cfg in variant_configs.values():
    check_config(cfg)
  if not 0 < float(select_fraction) < 1:
    raise ValueError(f'--select_fraction must be in (0, 1), got '
                     f'{select_fraction}')
  if select_by not in SELECT_BY:
    raise ValueError(f"select_by must be 'utterance' or 'speaker', got "
                     f'{select_by!r}')


# --- fine-tuning CNN config (experiments/configs/finetune.py) ---
# The fields of experiments/configs/finetune.py and their checks; renamed
# fields name their new name.
_FINETUNE_RENAMED = {'normalizer': 'normalize'}
_FINETUNE_OPTIMIZERS = ('adam', 'sgd')
# The CNN normalises with training-fold statistics (no per-speaker mode).
_FINETUNE_NORMALIZE = ('pixel', 'band_channel', 'none')
# Fields a finetune config may hold beyond configs/finetune.py's (reproduce
# sets max_folds on quick runs, as on PathNet configs).
_FINETUNE_OPTIONAL = ('max_folds',)


def _finetune_fields() -> set[str]:
  from experiments.configs import finetune  # pylint: disable=g-import-not-at-top
  return set(finetune.get_config().keys())


def _positive_int(config, name: str, minimum: int = 1) -> None:
  value = config.get(name)
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ValueError(f'config.{name} must be an integer >= {minimum}, got '
                     f'{value!r}')


def _indices(config, name: str) -> list[int]:
  values = list(config.get(name, ()) or ())
  if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
             for v in values):
    raise ValueError(f'config.{name} must be non-negative integers, got '
                     f'{values}')
  if len(set(values)) != len(values):
    raise ValueError(f'config.{name} repeats a value: {values}')
  return values


def _check_finetune_model(model: Any) -> None:
  convs = [tuple(model.conv_features), tuple(model.conv_kernels),
           tuple(model.conv_strides)]
  if not convs[0] or len({len(c) for c in convs}) != 1:
    raise ValueError('config.model.conv_features, conv_kernels and '
                     'conv_strides must be non-empty and of one length, got '
                     f'{[len(c) for c in convs]}')
  if min(v for c in convs for v in c) < 1:
    raise ValueError('config.model conv features, kernels and strides must '
                     'be >= 1')
  bad = [i for i in model.pool_after if not 0 <= i < len(convs[0])]
  if bad:
    raise ValueError(f'config.model.pool_after names convolutions {bad}; '
                     f'there are {len(convs[0])} (0-based)')
  if any(f < 1 for f in model.dense_features):
    raise ValueError('config.model.dense_features must be >= 1, got '
                     f'{tuple(model.dense_features)}')
  if not 0 <= float(model.dropout) < 1:
    raise ValueError(f'config.model.dropout must be in [0, 1), got '
                     f'{model.dropout}')


def check_finetune(config) -> None:
  """Raises ValueError naming the first bad field of a finetune config."""
  for old, new in _FINETUNE_RENAMED.items():
    if old in config:
      raise ValueError(f'config.{old} is now config.{new}')
  unknown = sorted(set(config.keys()) - _finetune_fields()
                   - set(_FINETUNE_OPTIONAL))
  if unknown:
    raise ValueError(f'unknown finetune config fields {unknown}')
  if config.protocol not in splits.PROTOCOLS:
    raise ValueError(f'config.protocol must be one of '
                     f'{sorted(splits.PROTOCOLS)}, got {config.protocol!r}')
  _positive_int(config, 'n_splits', 0)
  if config.get('max_folds') is not None:
    _positive_int(config, 'max_folds', 0)
  _indices(config, 'folds')
  _indices(config, 'seeds')
  if config.normalize not in _FINETUNE_NORMALIZE:
    raise ValueError(f'config.normalize must be one of {_FINETUNE_NORMALIZE}'
                     f', got {config.normalize!r}')
  if not 0 <= float(config.val_fraction) < 1:
    raise ValueError(f'config.val_fraction must be in [0, 1), got '
                     f'{config.val_fraction}')
  if not 0 < float(config.train_fraction) <= 1:
    raise ValueError(f'config.train_fraction must be in (0, 1], got '
                     f'{config.train_fraction}')
  if config.shared_classes_only and not config.source:
    raise ValueError('config.shared_classes_only needs config.source')
  if config.optimizer not in _FINETUNE_OPTIMIZERS:
    raise ValueError(f'config.optimizer must be one of '
                     f'{_FINETUNE_OPTIMIZERS}, got {config.optimizer!r}')
  rates = {'learning_rate': config.learning_rate}
  if config.pretrain_learning_rate is not None:  # None: learning_rate
    rates['pretrain_learning_rate'] = config.pretrain_learning_rate
  for name, value in rates.items():
    if value is None or not float(value) > 0:
      raise ValueError(f'config.{name} must be > 0, got {value!r}')
  for name in ('batch_size', 'eval_batch_size'):
    _positive_int(config, name)
  for name in ('epochs', 'pretrain_epochs'):
    _positive_int(config, name, 0)
  cnn_runs.batching_mode(config)  # raises for an unknown mode
  data.skip_settings(config)
  _check_finetune_model(config.model)


# --- fitness and patience (PathNet configs) ---
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
