"""Config fields by name: a config's leaves, what differs from a recorded
config, fields no code defines, overrides by dotted name, and a recorded
config read back whole (experiments/configs/default.py fills what an older
record lacks)."""
from __future__ import annotations

import difflib
import json
from typing import Any, Mapping, Sequence

import ml_collections

from experiments.configs import default as default_config
from pathnet_jax import metrics

# Top-level fields beyond configs/default.py that experiments.train reads.
OPTIONAL_FIELDS = ('synthetic', 'parallel', 'max_folds', 'data_seed')
# Settings a rerun in the same workdir may change (it resumes finished folds).
RESUMABLE_KEYS = ('folds', 'max_folds', 'evolution.run_batching')
_ABSENT = object()


def flat_fields(config_dict: Mapping[str, Any], prefix: str = ''
                ) -> dict[str, Any]:
  """{'optim.batch_size': 64, ...}: a config's leaves as JSON values."""
  out = {}
  for key, value in json.loads(json.dumps(metrics.jsonable(
      config_dict))).items():
    if isinstance(value, dict) and value:
      out.update(flat_fields(value, f'{prefix}{key}.'))
    else:
      out[prefix + key] = value
  return out


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any],
                   ignore: Sequence[str] = RESUMABLE_KEYS) -> list[str]:
  """Dotted fields in which config `new` differs from the recorded `old`.

  A field absent from `old` was added to the code after `old` was recorded:
  it differs only when `new` sets it away from configs/default.py's value
  (older runs behaved as that default), so workdirs survive upgrades.
  """
  old_f, new_f = flat_fields(old), flat_fields(new)
  defaults = flat_fields(default_config.get_config().to_dict())
  changed = []
  for field in sorted(set(old_f) | set(new_f)):
    if any(field == k or field.startswith(k + '.') for k in ignore):
      continue
    before, after = old_f.get(field, _ABSENT), new_f.get(field, _ABSENT)
    if before is _ABSENT and after == defaults.get(field, _ABSENT):
      continue
    if before != after:
      changed.append(field)
  return changed


def config_fields(config, prefix: str = '') -> list[str]:
  """Every dotted field name of a ConfigDict: 'optim', 'optim.batch_size'..."""
  names = []
  for key, value in config.items():
    names.append(prefix + key)
    if hasattr(value, 'items'):
      names += config_fields(value, f'{prefix}{key}.')
  return names


def unknown_field_message(field: str, known: Sequence[str]) -> str:
  close = difflib.get_close_matches(field, known, n=1)
  hint = f"; did you mean '{close[0]}'?" if close else ''
  return f'unknown config field {field!r}{hint}'


def unknown_fields(config) -> str | None:
  """The message for the first field of a config (file) that the default
  config does not define and nothing reads: a typo that would otherwise be
  silently ignored (`c.optim.learnin_rate = 0.1`). None when all are known."""
  known = config_fields(default_config.get_config())
  for field in config_fields(config):
    if field.split('.')[0] not in OPTIONAL_FIELDS and field not in known:
      return unknown_field_message(field, known)
  return None


def with_overrides(config, overrides: Mapping[str, Any]):
  """A copy of config with dotted-key overrides applied."""
  c = config.copy_and_resolve_references()
  with c.unlocked():
    for dotted, value in overrides.items():
      node = c
      *path, leaf = dotted.split('.')
      for p in path:
        node = node[p]
      node[leaf] = value
  return c


def recorded_value(config_dict: Mapping[str, Any], field: str) -> Any:
  """A dotted field of a recorded config; configs/default.py's value when
  the record predates the field."""
  flat = flat_fields(config_dict)
  if field in flat:
    return flat[field]
  return flat_fields(default_config.get_config().to_dict())[field]


def recorded(config_dict: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """A config recorded by a run (meta.json, results.json) as a whole
  ConfigDict: configs/default.py's values for the fields the record lacks
  (it was written before they existed, and behaved as their default)."""
  config = default_config.get_config()
  with config.unlocked():
    _merge(config, config_dict)
  return config


def _merge(node, values: Mapping[str, Any]) -> None:
  for key, value in values.items():
    if key in node and hasattr(node[key], 'items') and hasattr(value, 'items'):
      _merge(node[key], value)
    else:
      node[key] = value
