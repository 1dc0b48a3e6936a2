"""Where corpora come from: one function turns a corpus spec into a FeatureSet.

A spec is a corpus name, optionally with row filters after a colon (several
joined by ';'):
  'synthetic'            the built-in corpus (data_prep.synthetic)
  'emodb'                <data_root>/emodb, features cached in <cache_dir>
  'emodb:sex=f'          only the female speakers
  'emodb:speaker=03,08'  only these speakers
  'emodb:label=anger,sadness'  only these classes (the others are dropped
                         from the class list too)
  'manifest:PATH.csv'    the files a CSV lists (data_prep.corpora.manifest;
                         PATH relative to the working directory), filters
                         after a second colon: 'manifest:faces.csv:sex=f'
  'manifest:fer.csv:faces=given'  video/image files that are face crops
                         already: each frame or picture is the face, no
                         detection (overrides config.faces for this corpus)
  'path/to/set.npz'      a FeatureSet written by data_prep.store.save (or a
                         memory-mapped 'path/to/set.fs' store folder)
Several specs joined by '+' are pooled into one task ('enterface+savee').
Corpus files give log-mel segments (or face crops), or, when the config has
`feature_params={'functionals': 'ComParE_2016'}`, one row of openSMILE
functionals per file (data_prep.functionals).

A file that cannot be read (corrupt audio, a picture without a face) stops
the run with an error naming it, or, with config.on_error='skip', is left
out (`skipped_files` lists them) unless more than
config.max_skipped_fraction_files of a corpus's files are.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Mapping, Sequence

from absl import logging
import numpy as np

from data_prep import corpora
from data_prep import featureset
from data_prep import labels
from data_prep import store
from data_prep import video

FILTER_KEYS = ('sex', 'speaker', 'label', 'faces')
ON_ERROR = ('raise', 'skip')
# The flag defaults of binaries without a config (baseline, reproduce): the
# values configs/default.py and configs/finetune.py declare (a test checks).
DEFAULT_ON_ERROR = 'raise'
DEFAULT_MAX_SKIPPED_FRACTION = 0.05
# How errors name the settings; binaries without --config rename them
# (`as_flags`).
_HINT = ('set config.on_error=skip to skip such files, up to '
         'config.max_skipped_fraction_files of them')
_MANIFEST = re.compile(r'^(manifest:.+?\.csv)(?::(.*))?$', re.IGNORECASE)


FEATURE_FILES = ('.npz', '.fs')  # data_prep.featureset's two formats


def is_feature_file(name: str) -> bool:
  """A FeatureSet on disk (an .npz, or a memory-mapped .fs store folder)."""
  return name.rstrip('/').endswith(FEATURE_FILES)


def parse_spec(spec: str) -> tuple[str, dict[str, tuple[str, ...]]]:
  """'emodb:sex=f' -> ('emodb', {'sex': ('f',)});
  'manifest:a.csv:sex=f' -> ('manifest:a.csv', {'sex': ('f',)})."""
  if is_feature_file(spec):
    return spec.rstrip('/'), {}
  manifest = _MANIFEST.match(spec)
  if manifest:
    name, rest = manifest.group(1), manifest.group(2) or ''
  elif corpora.is_manifest(spec):
    raise ValueError(f'bad manifest spec {spec!r}; use manifest:PATH.csv')
  else:
    name, _, rest = spec.partition(':')
  filters = {}
  for part in filter(None, rest.split(';')):
    key, eq, values = part.partition('=')
    if not eq or key not in FILTER_KEYS:
      raise ValueError(f'bad corpus filter {part!r} in {spec!r}; use '
                       f'{"|".join(FILTER_KEYS)}=v1,v2')
    filters[key] = tuple(values.split(','))
  if 'faces' in filters and (len(filters['faces']) != 1 or
                             filters['faces'][0] not in video.FACES):
    raise ValueError(f'bad faces={",".join(filters["faces"])} in {spec!r}; '
                     f'use faces={"|".join(video.FACES)}')
  unknown = set(filters.get('label', ())) - set(labels.EMOTIONS)
  if unknown:
    raise ValueError(f'unknown label(s) {", ".join(sorted(unknown))} in '
                     f'{spec!r}; harmonised names: {", ".join(labels.EMOTIONS)}')
  if (name != 'synthetic' and name not in corpora.NAMES
      and not corpora.is_manifest(name)):
    raise ValueError(f'unknown corpus {name!r}; valid: synthetic, '
                     f'{", ".join(corpora.NAMES)}, manifest:PATH.csv, '
                     'PATH.npz, PATH.fs')
  return name, filters


def with_labels(spec: str, names) -> str:
  """The spec restricted to classes `names` (each pooled part gets a
  label= filter): 'a+b:sex=f' -> 'a:label=x,y+b:sex=f;label=x,y'."""
  parts = []
  for part in filter(None, spec.split('+')):
    name, filters = parse_spec(part)
    filters = dict(filters, label=tuple(names))
    text = ';'.join(f'{k}={",".join(v)}' for k, v in filters.items())
    parts.append(f'{name}:{text}')
  return '+'.join(parts)


def corpus_names(spec: str) -> tuple[str, ...]:
  """The corpora a (possibly pooled) spec reads: 'a+b:sex=f' -> ('a', 'b')."""
  return tuple(parse_spec(p)[0] for p in spec.split('+') if p)


def _filter(fs: store.FeatureSet, filters, spec) -> store.FeatureSet:
  keep = np.ones(len(fs), bool)
  for key, values in filters.items():
    if key in ('label', 'faces'):  # classes below; faces: how it was read
      continue
    column = np.asarray(getattr(fs, key)).astype(str)
    keep &= np.isin(column, values)
  if not keep.any():
    raise ValueError(f'corpus spec {spec!r} selects no rows')
  fs = store.select(fs, np.flatnonzero(keep)) if not keep.all() else fs
  if 'label' in filters:
    fs = keep_classes(fs, filters['label'], spec)
  return fs


def keep_classes(fs: store.FeatureSet, names, what: str = 'corpus'
                 ) -> store.FeatureSet:
  """Only the rows of the classes `names`, which become the class list (in
  canonical labels.EMOTIONS order, labels renumbered to it)."""
  names = labels.ordered(n for n in names if n in fs.class_names)
  if not names:
    raise ValueError(f'{what} has none of the classes asked for')
  if names == tuple(fs.class_names):
    return fs
  remap = np.full(len(fs.class_names), -1, np.int32)
  for new, name in enumerate(names):
    remap[fs.class_names.index(name)] = new
  label = remap[np.asarray(fs.label)]
  rows = np.flatnonzero(label >= 0)
  if not rows.size:
    raise ValueError(f'{what} holds no rows of {", ".join(names)}')
  out = store.select(fs, rows)
  return dataclasses.replace(out, label=label[rows], class_names=names)


def shared_classes(*feature_sets: store.FeatureSet) -> tuple[str, ...]:
  """Class names every set has, in canonical order."""
  common = set(feature_sets[0].class_names)
  for fs in feature_sets[1:]:
    common &= set(fs.class_names)
  return labels.ordered(common)


def restrict_to_shared(target: store.FeatureSet, source: store.FeatureSet
                       ) -> tuple[store.FeatureSet, store.FeatureSet]:
  """Target and source keeping only the classes both have (so transfer
  results compare with the literature's shared-class protocols)."""
  names = shared_classes(target, source)
  if not names:
    raise ValueError(f'source classes ({", ".join(source.class_names)}) and '
                     f'target classes ({", ".join(target.class_names)}) '
                     'share none')
  return (keep_classes(target, names, 'target'),
          keep_classes(source, names, 'source'))


def skip_settings(config) -> tuple[str, float]:
  """(on_error, max_skipped_fraction_files) of a config, checked."""
  # A ConfigDict or a plain dict of the two (binaries with flags).
  on_error = config['on_error']
  fraction = config['max_skipped_fraction_files']
  if on_error not in ON_ERROR:
    raise ValueError(f'config.on_error must be one of {", ".join(ON_ERROR)}, '
                     f'got {on_error!r}')
  if not 0 <= float(fraction) <= 1:
    raise ValueError('config.max_skipped_fraction_files must be in [0, 1], '
                     f'got {fraction}')
  return on_error, float(fraction)


def face_setting(config) -> str:
  """config.faces, checked: 'given' when the video or image files are face
  crops already (configs/default.py)."""
  faces = config['faces']
  if faces not in video.FACES:
    raise ValueError(f'config.faces must be one of {", ".join(video.FACES)} '
                     f"('given': the files are face crops already), got "
                     f'{faces!r}')
  return faces


def spec_faces(spec: str, config) -> str:
  """How the face rows of a (possibly pooled) spec are read: its faces=
  option when every part says the same, else config.faces."""
  said = {parse_spec(p)[1].get('faces', (None,))[0]
          for p in spec.split('+') if p}
  return said.pop() if len(said) == 1 and None not in said else (
      face_setting(config))


def as_flags(message: str) -> str:
  """An error message naming the skip settings as the flags of a binary
  without --config (baseline, reproduce): config.on_error -> --on_error."""
  for name in ('on_error', 'max_skipped_fraction_files'):
    message = message.replace(f'config.{name}', f'--{name}')
  return message


def skipped_files(fs: store.FeatureSet) -> list[str]:
  """'<file id>: <reason>' of each file the extraction of `fs` skipped
  (config.on_error='skip'); in a pooled set the ids carry their corpus as
  its utterance ids do ('corpus:wav/a.wav: ...')."""
  return _skipped(fs.params)


def _skipped(params) -> list[str]:
  if not params.get('pooled'):
    return list(params.get('skipped') or ())
  out = []
  for part in params['pooled']:
    out += (_skipped(part) if part.get('pooled') else
            [f"{part.get('corpus', '')}:{s}" for s in part.get('skipped', ())])
  return out


def skipped_note(skipped: Mapping[str, Sequence[str]]) -> str:
  """summary.md's line for results.json's 'skipped_files' ({'target': [...],
  'source': [...]}); '' when no file was skipped."""
  n = sum(len(files) for files in skipped.values())
  if not n:
    return ''
  return (f'{n} corpus file(s) skipped as unreadable (config.on_error=skip); '
          'results.json lists them under skipped_files.')


def check_skipped(fs: store.FeatureSet, what: str, max_fraction: float
                  ) -> None:
  """Refuses a corpus of which more than `max_fraction` of the files were
  skipped: it would no longer be the corpus the results claim."""
  skipped, n_files = skipped_files(fs), int(fs.params.get('n_files') or 0)
  if n_files and len(skipped) / n_files > max_fraction:
    raise ValueError(
        f'{what}: {len(skipped)} of {n_files} files ({len(skipped) / n_files:.1%}'
        f') could not be read, more than config.max_skipped_fraction_files='
        f'{max_fraction:g}; first: {skipped[0]}')


def non_finite_rows(x: np.ndarray, chunk: int = 4096) -> np.ndarray:
  """int64 indices of the rows of x [n, ...] holding NaN or inf, checked a
  chunk of rows at a time (featureset.read_rows: a memory-mapped store is
  read, not mapped whole into the process)."""
  bad = []
  for start in range(0, len(x), chunk):
    part = featureset.read_rows(x, start, min(start + chunk, len(x)))
    bad.append(start + np.flatnonzero(
        ~np.isfinite(part.reshape(len(part), -1)).all(1)))
  return np.concatenate(bad) if bad else np.zeros(0, np.int64)


def refuse_non_finite(fs: store.FeatureSet, what: str, on_error: str
                      ) -> store.FeatureSet:
  """Rows with NaN/inf are an error naming `what`, its rows and their
  utterances (they would train to the end on garbage); under
  on_error='skip' those utterances are dropped and listed as skipped."""
  bad = non_finite_rows(fs.x)
  if not bad.size:
    return fs
  utterances = np.unique(fs.utterance[bad])
  ids = [fs.utterance_ids[u] for u in utterances]
  if on_error != 'skip':
    raise ValueError(
        f'{what}: non-finite feature values (NaN/inf) in {bad.size} row(s) '
        f'{bad[:5].tolist()}{" ..." if bad.size > 5 else ""} of '
        f'{len(ids)} utterance(s) {ids[:3]}{" ..." if len(ids) > 3 else ""}'
        '; fix the features, or leave them out with config.on_error=skip')
  kept = store.select(fs, ~np.isin(fs.utterance, utterances))
  kept.params['skipped'] = list(fs.params.get('skipped') or ()) + [
      f'{i}: non-finite features' for i in ids]
  logging.warning('%s: left out %d utterance(s) with non-finite features: '
                  '%s', what, len(ids), ', '.join(ids[:10]))
  return kept


def load_one(spec: str, config) -> store.FeatureSet:
  """One corpus spec (no '+'): its rows after the filters; rows with
  non-finite features refused (`refuse_non_finite`)."""
  name, filters = parse_spec(spec)
  on_error, max_fraction = skip_settings(config)
  faces = filters.get('faces', (face_setting(config),))[0]
  if is_feature_file(name):
    if not os.path.exists(name):
      raise FileNotFoundError(f'feature file {name!r} not found')
    fs = refuse_non_finite(store.load(name), name, on_error)
    check_skipped(fs, name, max_fraction)  # extracted with on_error skip
    return _filter(fs, filters, spec)
  feature_params = config.get('feature_params', None)
  if name == 'synthetic':
    if feature_params:
      raise ValueError('the synthetic corpus has no files to extract '
                       f'{dict(feature_params)} from; use a real corpus')
    from data_prep import synthetic  # pylint: disable=g-import-not-at-top
    kwargs = dict(config.get('synthetic', {}) or {})
    fs = synthetic.make_corpus(seed=int(config.get('data_seed', 0)), **kwargs)
  elif corpora.is_manifest(name):
    csv_path = name.removeprefix(corpora.MANIFEST)
    if not os.path.isfile(csv_path):
      raise FileNotFoundError(f'manifest {csv_path!r} not found')
    fs = _cached(name, None, config, faces)
  else:
    root = os.path.join(config.data_root, name)
    if not os.path.isdir(root):
      raise FileNotFoundError(
          f'corpus {name!r} not found: {root!r} is not a directory (set '
          f'--config.data_root to the folder holding {name}/)')
    fs = _cached(name, root, config, faces)
  fs = refuse_non_finite(fs, name, on_error)
  check_skipped(fs, name, max_fraction)
  return _filter(fs, filters, spec)


def _cached(name: str, root: str | None, config, faces: str
            ) -> store.FeatureSet:
  on_error, _ = skip_settings(config)
  params = config.get('feature_params', None)
  if config.modality in ('video', 'image') and faces != 'detect':
    params = {**(params or {}), 'faces': faces}
  try:
    return store.cached_features(name, root, config.modality,
                                 config.cache_dir, on_error=on_error,
                                 params=params)
  except store.ExtractionError as e:  # a bad file: say which, no traceback
    first, *rest = str(e).splitlines() or ['']
    raise ValueError('\n'.join([f'{first} ({_HINT})', *rest])) from e


def load_corpus(spec: str, config) -> store.FeatureSet:
  """FeatureSet for a spec; '+' pools several corpora into one task.

  Reads config.modality, data_root, cache_dir, feature_params, synthetic,
  data_seed, on_error, max_skipped_fraction_files and faces.
  """
  skip_settings(config)  # a bad setting fails before any extraction
  face_setting(config)
  parts = [p for p in spec.split('+') if p]
  if not parts:
    raise ValueError('empty corpus spec')
  if len(parts) == 1:
    return load_one(parts[0], config)
  return store.pool([load_one(p, config) for p in parts])


def feature_params(modality: str, faces: str = 'detect') -> dict:
  """The feature parameters `load_one` extracts with (what predict must use;
  faces: `spec_faces` of the target)."""
  if modality in ('video', 'image') and faces != 'detect':
    return store.feature_params(modality, {'faces': faces})
  return store.feature_params(modality)


def functionals_params(feature_set: str) -> dict:
  """The parameters of openSMILE `feature_set` functionals as load_one
  extracts them (what predict must use for a functionals view)."""
  return store.feature_params('audio', {'functionals': feature_set})
