"""THE config checks of the binaries: one clear error for a setting that
would otherwise fail deep in JAX or, worse, be silently ignored. Each binary
calls its check once, before it reads data or writes anything."""
from __future__ import annotations

from typing import Any, Mapping

from experiments.lib import configs
from experiments.lib import data
from experiments.lib import normalize
from experiments.lib import views
from pathnet_jax import checks

# --- PathNet config (experiments/configs/default.py) ---

TASKS = ('scratch', 'transfer', 'multi_source')
MODALITIES = ('audio', 'video', 'image')
FITNESS = ('train', 'validation')


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
  for spec in (config.target, *config.sources):
    data.corpus_names(spec)  # unknown corpus or filter: fail before any work
  if config.modality not in MODALITIES:
    raise ValueError(f'config.modality must be one of {MODALITIES}, got '
                     f'{config.modality!r}')
  checks.validate_config(config)
  if int(config.n_splits) < 0 or int(config.n_splits) == 1:
    raise ValueError(f'config.n_splits must be 0 (protocol default) or >= 2, '
                     f'got {config.n_splits}')
  if config.fitness not in FITNESS:
    raise ValueError("config.fitness must be 'train' or 'validation', got "
                     f'{config.fitness!r}')
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
