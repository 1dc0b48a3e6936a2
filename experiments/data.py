"""Where corpora come from: one function turns a corpus spec into a FeatureSet.

A spec is a corpus name, optionally with row filters after a colon:
  'synthetic'            the built-in corpus (data_prep.synthetic)
  'emodb'                <data_root>/emodb, features cached in <cache_dir>
  'emodb:sex=f'          only the female speakers
  'emodb:speaker=03,08'  only these speakers
  'path/to/set.npz'      a FeatureSet written by data_prep.store.save
Several specs joined by '+' are pooled into one task ('enterface+savee').
Corpus files give log-mel segments (or face crops), or, when the config has
`feature_params={'functionals': 'ComParE_2016'}`, one row of openSMILE
functionals per file (data_prep.functionals).
"""
from __future__ import annotations

import os

import numpy as np

from data_prep import corpora
from data_prep import store

FILTER_KEYS = ('sex', 'speaker')


def parse_spec(spec: str) -> tuple[str, dict[str, tuple[str, ...]]]:
  """'emodb:sex=f' -> ('emodb', {'sex': ('f',)})."""
  if spec.endswith('.npz'):
    return spec, {}
  name, _, rest = spec.partition(':')
  filters = {}
  for part in filter(None, rest.split(';')):
    key, eq, values = part.partition('=')
    if not eq or key not in FILTER_KEYS:
      raise ValueError(f'bad corpus filter {part!r} in {spec!r}; use '
                       f'{"|".join(FILTER_KEYS)}=v1,v2')
    filters[key] = tuple(values.split(','))
  if name != 'synthetic' and name not in corpora.NAMES:
    raise ValueError(f'unknown corpus {name!r}; valid: synthetic, '
                     f'{", ".join(corpora.NAMES)}')
  return name, filters


def corpus_names(spec: str) -> tuple[str, ...]:
  """The corpora a (possibly pooled) spec reads: 'a+b:sex=f' -> ('a', 'b')."""
  return tuple(parse_spec(p)[0] for p in spec.split('+') if p)


def _filter(fs: store.FeatureSet, filters, spec) -> store.FeatureSet:
  keep = np.ones(len(fs), bool)
  for key, values in filters.items():
    column = np.asarray(getattr(fs, key)).astype(str)
    keep &= np.isin(column, values)
  if not keep.any():
    raise ValueError(f'corpus spec {spec!r} selects no rows')
  return store.select(fs, np.flatnonzero(keep)) if not keep.all() else fs


def load_one(spec: str, config) -> store.FeatureSet:
  name, filters = parse_spec(spec)
  if name.endswith('.npz'):
    if not os.path.isfile(name):
      raise FileNotFoundError(f'feature file {name!r} not found')
    return store.load(name)
  feature_params = config.get('feature_params', None)
  if name == 'synthetic':
    if feature_params:
      raise ValueError('the synthetic corpus has no files to extract '
                       f'{dict(feature_params)} from; use a real corpus')
    from data_prep import synthetic  # pylint: disable=g-import-not-at-top
    kwargs = dict(config.get('synthetic', {}) or {})
    fs = synthetic.make_corpus(seed=int(config.get('data_seed', 0)), **kwargs)
  else:
    root = os.path.join(config.data_root, name)
    if not os.path.isdir(root):
      raise FileNotFoundError(
          f'corpus {name!r} not found: {root!r} is not a directory (set '
          f'--config.data_root to the folder holding {name}/)')
    try:
      fs = store.cached_features(name, root, config.modality, config.cache_dir,
                                 params=feature_params)
    except store.ExtractionError as e:  # a bad file: say which, no traceback
      raise ValueError(str(e)) from e
  return _filter(fs, filters, spec)


def load_corpus(spec: str, config) -> store.FeatureSet:
  """FeatureSet for a spec; '+' pools several corpora into one task."""
  parts = [p for p in spec.split('+') if p]
  if not parts:
    raise ValueError('empty corpus spec')
  if len(parts) == 1:
    return load_one(parts[0], config)
  return store.pool([load_one(p, config) for p in parts])


def feature_params(modality: str) -> dict:
  """The feature parameters `load_one` extracts with (what predict must use)."""
  return store.feature_params(modality)
