"""Extraction and the feature cache: corpus files → a FeatureSet on disk.

Each file's rows go straight into the store being written (featureset's
FORMAT2 directory), so extraction holds a bounded number of files' rows
however large the corpus; the result's x is memory-mapped. The FeatureSet
itself, its formats and row operations live in featureset, one file's rows
in features (both re-exported here), the worker pool in workers.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tqdm

from data_prep import corpora
from data_prep import labels
from data_prep import storedir
from data_prep import workers as worker_pool
from data_prep.features import empty_rows, feature_params, file_features
from data_prep.featureset import FORMAT, FeatureSet, load, pool, save, select  # pylint: disable=unused-import
from data_prep.featureset import columns, convert, read_params, str_array


class ExtractionError(RuntimeError):
  """Feature extraction failed on a file (message names it and says why)."""


def _worker(task: tuple[str, str, dict[str, Any]]
            ) -> tuple[np.ndarray | None, BaseException | None]:
  """Process-pool entry point: never raises, so one bad file can't kill the pool."""
  try:
    return file_features(*task), None
  except Exception as e:  # pylint: disable=broad-except
    return None, e


def cache_key(corpus: str, modality: str, params: Mapping[str, Any],
              records: Sequence[corpora.Record]) -> str:
  """Hash of everything a FeatureSet depends on.

  Parameters, and per record its id, label, speaker, sex and the file's size
  and modification time (so an edited or replaced file recomputes; a moved
  corpus root does not). The on-disk format is not part of it (FORMAT stays
  in the hash as it always was), so an .npz cache converts to a store.
  """
  files = []
  for r in records:
    st = os.stat(r.path)
    files.append([r.utterance_id, r.label, r.speaker, r.sex, st.st_size,
                  st.st_mtime_ns])
  blob = json.dumps([FORMAT, corpus, modality, dict(params), files],
                    sort_keys=True)
  return hashlib.sha256(blob.encode()).hexdigest()


def extract(corpus: str, root: str | os.PathLike, modality: str = 'audio',
            out: str | os.PathLike | None = None, workers: int = 2,
            on_error: str = 'raise', params: Mapping[str, Any] | None = None,
            progress: bool = True) -> FeatureSet:
  """Features of every `modality` recording of a corpus.

  Args:
    corpus: one of corpora.NAMES, or 'manifest:PATH.csv'.
    root: the corpus folder (None for a manifest).
    modality: 'audio' (log-mel segments), 'video' (face crops, one row per
      kept frame) or 'image' (one face crop per picture).
    out: where to write (atomically): a store directory (FORMAT2, e.g.
      'x.fs'), or an .npz (FORMAT) when it ends in .npz; None: a temporary
      store, removed once mapped. If `out` already holds features of the
      same inputs (records, file sizes/mtimes) and parameters, it is loaded
      instead of recomputed.
    workers: processes; ≤ 1 runs in this process.
    on_error: 'raise' stops at the first bad file (ExtractionError naming
      it); 'skip' logs each bad file with its reason, leaves it out and lists
      it in params['skipped'].
    params: feature parameter overrides (see `feature_params`; e.g.
      {'functionals': 'ComParE_2016'} for one openSMILE row per file).
    progress: show a tqdm bar.

  Returns:
    The FeatureSet (x memory-mapped unless read from a cached .npz); its
    params hold the feature parameters, corpus, modality, cache_key,
    n_files and skipped.
  """
  return _extract(corpus, root, modality, out, workers, on_error, params,
                  progress)[0]


def _extract(corpus, root, modality, out, workers, on_error, params, progress,
             legacy=None) -> tuple[FeatureSet, bool]:
  """`extract`, also saying whether the cache was reused; a valid .npz at
  `legacy` (when `out` is absent) is converted to `out` instead."""
  if on_error not in ('raise', 'skip'):
    raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
  fparams = feature_params(modality, params)
  recs = corpora.read(corpus, root, modality)
  if not recs:
    raise corpora.CorpusError(
        f'{corpus if root is None else root}: no {corpus} {modality} '
        'recordings')
  key = cache_key(corpus, modality, fparams, recs)
  cached = _from_cache(out, legacy, key, on_error)
  if cached is not None:
    return cached, True
  npz = out is not None and os.fspath(out).endswith('.npz')
  with _scratch(out if npz else None, out is None) as scratch:
    path = Path(scratch, 'features.fs') if scratch else Path(out)
    _write_store(path, corpus, recs, modality, fparams, workers, on_error,
                 progress, key)
    fs = load(path)
    if npz:
      save(fs, out)
  return fs, False


def _write_store(path, corpus, recs, modality, fparams, workers, on_error,
                 progress, key) -> None:
  """Extracts every record into the store at `path`, a file at a time."""
  tasks = [(r.path, modality, fparams) for r in recs]
  bar = tqdm.tqdm(total=len(tasks), desc=f'{corpus} {modality}', unit='file',
                  disable=not progress)
  kept, counts, skipped = [], [], []  # per file: small bookkeeping only
  with storedir.writing(path, empty=empty_rows(modality, fparams)) as rows, \
      bar, worker_pool.mapper(workers, len(tasks)) as mapper:
    for rec, (x, err) in zip(recs, mapper(_worker, tasks)):
      bar.update()
      if err is None:
        rows.append(x)
        kept.append(rec)
        counts.append(len(x))
        continue
      reason = f'{type(err).__name__}: {_without_path(str(err), rec.path)}'
      if on_error == 'raise':
        raise ExtractionError(f'{rec.path}: {reason}') from err
      logging.warning('skipping %s: %s', rec.path, reason)
      skipped.append(f'{rec.utterance_id}: {reason}')
    fields = _fields(recs, kept, counts, fparams)
    fields['params'].update(corpus=corpus, modality=modality, cache_key=key,
                            n_files=len(recs), skipped=skipped)
    rows.commit(columns(fields))


def _scratch(beside: str | os.PathLike | None, needed: bool):
  """A temporary folder to build a store in: beside an .npz being written,
  in the system's temporary folder when there is no `out`; else none."""
  if beside is None and not needed:
    return contextlib.nullcontext(None)
  folder = None if beside is None else Path(beside).parent
  if folder is not None:
    folder.mkdir(parents=True, exist_ok=True)
  return tempfile.TemporaryDirectory(
      dir=folder, prefix=f'.{Path(beside).name}.' if beside else None,
      ignore_cleanup_errors=True)  # a mapped file outlives its name


def _from_cache(out, legacy, key: str, on_error: str) -> FeatureSet | None:
  """The cached FeatureSet at `out` (or converted there from `legacy`) when
  it holds these inputs and parameters and suits on_error; else None."""
  if out is not None and os.path.exists(out):
    fs = _load_or_none(out) if _reusable(out, key, on_error) else None
    if fs is not None:
      logging.info('%s: reusing cached features (same inputs and '
                   'parameters)', out)
    return fs
  if legacy is None or not os.path.isfile(legacy) or not _reusable(
      legacy, key, on_error):
    return None
  try:
    convert(legacy, out)
  except Exception as e:  # pylint: disable=broad-except
    logging.warning('%s: unreadable cache, recomputing (%s)', legacy, e)
    return None
  logging.info('converted %s to %s (memory-mapped store)', legacy, out)
  return _load_or_none(out)


def _reusable(path, key: str, on_error: str) -> bool:
  """Whether the cache at path was made from the same inputs (read from its
  params alone); one with skipped files only serves on_error='skip'."""
  try:
    params = read_params(path)
  except Exception as e:  # pylint: disable=broad-except
    logging.warning('%s: unreadable cache, recomputing (%s)', path, e)
    return False
  return params.get('cache_key') == key and (
      on_error == 'skip' or not params.get('skipped'))


def _load_or_none(path) -> FeatureSet | None:
  try:
    return load(path)
  except Exception as e:  # pylint: disable=broad-except
    logging.warning('%s: unreadable cache, recomputing (%s)', path, e)
    return None


def _without_path(message: str, path: str) -> str:
  """The message without the absolute path (we prefix the relative id)."""
  return message.removeprefix(f'{path}: ').replace(path,
                                                   os.path.basename(path))


def _fields(recs, kept, counts, fparams) -> dict[str, Any]:
  """FeatureSet's fields but x, from per-file row counts (kept[i] made
  counts[i] rows)."""
  names = labels.ordered(r.label for r in recs)  # skipping never drops a class

  def per_row(values):
    return np.repeat(np.asarray(values), counts) if kept else np.zeros(0, int)

  return dict(
      label=per_row([names.index(r.label) for r in kept]).astype(np.int32),
      utterance=per_row(np.arange(len(kept))).astype(np.int32),
      speaker=str_array(per_row([r.speaker for r in kept])),
      corpus=str_array(per_row([r.corpus for r in kept])),
      sex=str_array(per_row([r.sex for r in kept])),
      class_names=names,
      utterance_ids=tuple(r.utterance_id for r in kept),
      params=dict(fparams))


def cache_stem(corpus: str) -> str:
  """A file-name-safe stem for a corpus name ('manifest:a/b.csv' included)."""
  if not corpora.is_manifest(corpus):
    return corpus
  path = os.path.abspath(corpus.removeprefix(corpora.MANIFEST))
  digest = hashlib.sha256(path.encode()).hexdigest()[:8]
  return f'manifest_{Path(path).stem}_{digest}'


def cached_features(corpus: str, root: str | os.PathLike,
                    modality: str = 'audio',
                    cache_dir: str | os.PathLike = 'features',
                    workers: int = 2, on_error: str = 'raise',
                    params: Mapping[str, Any] | None = None,
                    progress: bool = True) -> FeatureSet:
  """Features from `cache_dir`, extracted there on first use.

  The store is `<corpus>_<modality>_<8 hex of the parameters>.fs/` (the
  openSMILE feature set instead of the modality for functionals), so other
  parameters get their own; changed input files recompute it. A manifest's
  is `manifest_<stem>_<8 hex of its absolute path>_...`. An .npz cache of
  the same name from before the memory-mapped store, still valid, is
  converted once (and left in place).
  """
  fparams = feature_params(modality, params)
  tag = hashlib.sha256(json.dumps(fparams, sort_keys=True).encode()
                       ).hexdigest()[:8]
  kind = fparams.get('functionals', modality)
  base = os.path.join(cache_dir, f'{cache_stem(corpus)}_{kind}_{tag}')
  return _extract(corpus, root, modality, base + '.fs', workers, on_error,
                  params, progress, legacy=base + '.npz')[0]
