"""FeatureSet: the one array format that flows from data_prep to experiments,
its two formats on disk, and its row operations.

A FeatureSet holds one row per segment (audio) or face frame (video) with the
bookkeeping needed for honest splits (utterance, speaker) and pooling (corpus).

On disk:
  FORMAT  '<name>.npz': every array in one archive; `load` reads x whole.
  FORMAT2 '<name>.fs/': x.bin (the rows, raw, C order; appended as
    extraction goes) and columns.npz (the other columns, params, format, and
    x's dtype and shape). `load` memory-maps x.bin read-only, so memory stays
    flat however large the corpus.
Why a flat file and not zarr/TensorStore: training gathers rows at random,
per batch and per fold; a flat file that numpy memory-maps serves any row
with one read, with no chunk codec to decompress a whole chunk per row and
no new dependency.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data_prep import labels
from data_prep import storedir


@dataclasses.dataclass(frozen=True)
class FeatureSet:
  """Rows of features with labels and grouping columns.

  Attributes:
    x: [n, 64, 64, 3] float32 log-mel segments (band, frame, static/Δ/ΔΔ),
      uint8 RGB face crops, or [n, D] float32 openSMILE functionals (one row
      per recording); a read-only np.memmap when loaded from a FORMAT2 store.
    label: [n] int32, index into `class_names`.
    utterance: [n] int32, index into `utterance_ids` (segments of one recording
      share it; splits never separate them).
    speaker: [n] str, speaker id (corpus-prefixed when pooled).
    corpus: [n] str, corpus name per row.
    sex: [n] str, 'f', 'm' or '' when unknown.
    class_names: harmonised emotion names, in label order.
    utterance_ids: one id per utterance (e.g. the file's path relative to root).
    params: the feature parameters (and corpus/modality) that made it.
  """
  x: np.ndarray
  label: np.ndarray
  utterance: np.ndarray
  speaker: np.ndarray
  corpus: np.ndarray
  sex: np.ndarray
  class_names: tuple[str, ...]
  utterance_ids: tuple[str, ...]
  params: dict[str, Any] = dataclasses.field(default_factory=dict)

  def __len__(self) -> int:
    return int(self.x.shape[0])


FORMAT = 'pathnet_jax.FeatureSet/1'
FORMAT2 = storedir.FORMAT2
_ARRAYS = ('x', 'label', 'utterance', 'speaker', 'corpus', 'sex')
_BLOCK_BYTES = 64 << 20  # rows copied per step when saving a mapped set


# --------------------------------------------------------------------------
# Files.


def save(fs: FeatureSet, path: str | os.PathLike) -> None:
  """Writes `fs` atomically: FORMAT to a path ending in .npz, else a FORMAT2
  directory.

  The data go to a temporary file or folder beside `path`, fsynced, then
  renamed into place: a reader sees the old store or the complete new one,
  and an interrupted write leaves nothing at `path` that `load` accepts (the
  temporary one is removed when Python can; a hard kill may leave a hidden
  '.<name>.*.tmp' behind, never `path` itself).
  """
  if not os.fspath(path).endswith('.npz'):
    with storedir.writing(path, empty=fs.x[:0]) as out:
      step = max(1, _BLOCK_BYTES // max(1, fs.x[:1].nbytes))
      for start in range(0, len(fs), step):
        out.append(read_rows(fs.x, start, start + step))
      out.commit(columns(fs))
    return
  arrays = {'x': np.asarray(fs.x), **columns(fs), 'format': np.asarray(FORMAT)}
  storedir.write_atomically(path, lambda f: np.savez(f, **arrays))


def load(path: str | os.PathLike) -> FeatureSet:
  """Reads a FeatureSet written by `save` (no pickles): a FORMAT2 directory
  with x memory-mapped read-only, or a FORMAT .npz read whole."""
  if Path(path).is_dir():
    x, cols = storedir.read(path)
    return from_columns(x, cols)
  with np.load(path, allow_pickle=False) as z:
    if 'format' not in z.files or str(z['format']) != FORMAT:
      raise ValueError(f'{path}: not a {FORMAT} file')
    return from_columns(z['x'], {k: z[k] for k in z.files})


def read_params(path: str | os.PathLike) -> dict[str, Any]:
  """The params of a stored FeatureSet of either format, reading nothing
  else (ValueError when it is not one)."""
  name = Path(path) / storedir.COLUMNS if Path(path).is_dir() else path
  expected = FORMAT2 if Path(path).is_dir() else FORMAT
  with np.load(name, allow_pickle=False) as z:
    if 'format' not in z.files or str(z['format']) != expected:
      raise ValueError(f'{path}: not a {expected} store')
    return json.loads(str(z['params']))


def convert(npz: str | os.PathLike, path: str | os.PathLike) -> None:
  """Writes the FORMAT .npz `npz` as a FORMAT2 store at `path`, copying x
  from the archive in blocks (never whole in memory)."""
  with np.load(npz, allow_pickle=False) as z:
    if 'format' not in z.files or str(z['format']) != FORMAT:
      raise ValueError(f'{npz}: not a {FORMAT} file')
    cols = {k: z[k] for k in z.files if k not in ('x', 'format')}
  storedir.copy_npy_member(npz, 'x.npy', path, cols)


def columns(fs: FeatureSet | Mapping[str, Any]) -> dict[str, np.ndarray]:
  """Every field but x (of a FeatureSet, or a mapping of its other fields:
  the columns of rows still being written) as arrays an .npz holds without
  pickles."""
  f = fs if isinstance(fs, Mapping) else vars(fs)  # asdict would copy x
  return {'label': np.asarray(f['label']),
          'utterance': np.asarray(f['utterance']),
          'speaker': str_array(f['speaker']), 'corpus': str_array(f['corpus']),
          'sex': str_array(f['sex']), 'class_names': str_array(f['class_names']),
          'utterance_ids': str_array(f['utterance_ids']),
          'params': np.asarray(json.dumps(f['params'], sort_keys=True))}


def from_columns(x: np.ndarray, cols) -> FeatureSet:
  """The FeatureSet of rows x and the arrays `columns` made."""
  return FeatureSet(
      x=x, label=cols['label'].astype(np.int32),
      utterance=cols['utterance'].astype(np.int32), speaker=cols['speaker'],
      corpus=cols['corpus'], sex=cols['sex'],
      class_names=tuple(str(s) for s in cols['class_names']),
      utterance_ids=tuple(str(s) for s in cols['utterance_ids']),
      params=json.loads(str(cols['params'])))


def str_array(values) -> np.ndarray:
  """Unicode array (never object dtype, so loading needs no pickle)."""
  values = [str(v) for v in values]
  return np.asarray(values, dtype=str) if values else np.zeros(0, '<U1')


def read_rows(x: np.ndarray, start: int, stop: int) -> np.ndarray:
  """Rows [start, stop) of x (slice semantics) as an in-memory array.

  The memmap `load` returns is read with one positioned file read, not
  through the mapping: scanning a store larger than RAM then does not grow
  this process's resident set. Anything else (views included) is
  `np.asarray(x[start:stop])`.
  """
  start, stop, _ = slice(start, stop).indices(len(x))
  rows = storedir.read_mapped(x, start, stop) if stop > start else None
  return np.asarray(x[start:stop]) if rows is None else rows


# --------------------------------------------------------------------------
# Row operations.


def select(fs: FeatureSet, rows: np.ndarray | Sequence[int]) -> FeatureSet:
  """The rows picked by a boolean mask [n] or an index array (in memory).

  class_names and utterance_ids are kept whole, so utterance indices (and
  labels) mean the same in every selection of one set.
  """
  rows = np.asarray(rows)
  if rows.dtype == bool:
    if rows.shape != (len(fs),):
      raise ValueError(f'mask of shape {rows.shape} for {len(fs)} rows')
    rows = np.flatnonzero(rows)
  rows = rows.astype(np.int64).reshape(-1)
  return dataclasses.replace(
      fs, **{k: np.asarray(getattr(fs, k))[rows] for k in _ARRAYS},
      params=dict(fs.params))


def pool(feature_sets: Sequence[FeatureSet]) -> FeatureSet:
  """Concatenates corpora into one set (e.g. eNTERFACE + SAVEE sources).

  Class names become the union in harmonised EMOTIONS order and labels are
  remapped to it; utterance indices are offset; speaker and utterance ids
  are prefixed 'corpus:' so that speakers of different corpora never merge
  (an already pooled set keeps its prefixes). params = {'pooled': [each
  set's params], 'corpus': 'a+b'}. x is concatenated in memory.
  """
  if not feature_sets:
    raise ValueError('pool needs at least one FeatureSet')
  shapes = {(fs.x.shape[1:], fs.x.dtype) for fs in feature_sets}
  if len(shapes) > 1:
    raise ValueError(f'cannot pool features of different shapes/dtypes: '
                     f'{sorted(map(str, shapes))}')
  names = labels.ordered(n for fs in feature_sets for n in fs.class_names)
  parts = {k: [] for k in _ARRAYS}
  utterance_ids, offset, corpora_seen = [], 0, []
  for fs in feature_sets:
    remap = np.asarray([names.index(n) for n in fs.class_names], np.int32)
    speaker, uids = np.asarray(fs.speaker), list(fs.utterance_ids)
    if not fs.params.get('pooled'):
      name = _corpus_name(fs)
      speaker = str_array(f'{c}:{s}' for c, s in zip(fs.corpus, speaker))
      uids = [f'{name}:{u}' for u in uids]
    corpora_seen.append(fs.params.get('corpus') or _corpus_name(fs))
    parts['x'].append(fs.x)
    parts['label'].append(remap[fs.label] if len(fs) else fs.label)
    parts['utterance'].append(np.asarray(fs.utterance, np.int32) + offset)
    parts['speaker'].append(speaker)
    parts['corpus'].append(np.asarray(fs.corpus))
    parts['sex'].append(np.asarray(fs.sex))
    utterance_ids += uids
    offset += len(fs.utterance_ids)
  arrays = {k: np.concatenate(v) for k, v in parts.items()}
  for k in ('speaker', 'corpus', 'sex'):
    arrays[k] = str_array(arrays[k])
  arrays['label'] = arrays['label'].astype(np.int32)
  return FeatureSet(**arrays, class_names=names,
                    utterance_ids=tuple(utterance_ids),
                    params={'pooled': [fs.params for fs in feature_sets],
                            'corpus': '+'.join(corpora_seen)})


def _corpus_name(fs: FeatureSet) -> str:
  names = set(np.asarray(fs.corpus).tolist())
  if fs.params.get('corpus'):
    return str(fs.params['corpus'])
  if len(names) == 1:
    return names.pop()
  raise ValueError(f'an unpooled FeatureSet with corpora {sorted(names)}')
