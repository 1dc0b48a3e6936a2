"""Feature sets on disk: the one array format that flows from data_prep to experiments.

A FeatureSet holds one row per segment (audio) or face frame (video) with the
bookkeeping needed for honest splits (utterance, speaker) and pooling (corpus).
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import errno
import functools
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import threadpoolctl
import tqdm

from data_prep import audio
from data_prep import corpora
from data_prep import functionals
from data_prep import labels
from data_prep import video


@dataclasses.dataclass(frozen=True)
class FeatureSet:
  """Rows of features with labels and grouping columns.

  Attributes:
    x: [n, 64, 64, 3] float32 log-mel segments (band, frame, static/Δ/ΔΔ),
      uint8 RGB face crops, or [n, D] float32 openSMILE functionals (one row
      per recording).
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
_ARRAYS = ('x', 'label', 'utterance', 'speaker', 'corpus', 'sex')


class ExtractionError(RuntimeError):
  """Feature extraction failed on a file (message names it and says why)."""


# --------------------------------------------------------------------------
# Files.


def save(fs: FeatureSet, path: str | os.PathLike) -> None:
  """Writes `fs` to an .npz, atomically.

  The arrays go to a temporary file in the destination folder, which is
  fsynced and then renamed over `path` (os.replace): a reader sees the old
  file or the complete new one, and an interrupted write leaves no file that
  `load` accepts (the temporary one is removed when Python can; a hard kill
  may leave a '.<name>.*.tmp' file behind, never `path` itself).
  """
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  arrays = {k: np.asarray(getattr(fs, k)) for k in _ARRAYS}
  arrays['speaker'] = _str_array(fs.speaker)
  arrays['corpus'] = _str_array(fs.corpus)
  arrays['sex'] = _str_array(fs.sex)
  arrays['class_names'] = _str_array(fs.class_names)
  arrays['utterance_ids'] = _str_array(fs.utterance_ids)
  arrays['params'] = np.asarray(json.dumps(fs.params, sort_keys=True))
  arrays['format'] = np.asarray(FORMAT)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.',
                             suffix='.tmp')
  try:
    with os.fdopen(fd, 'wb') as f:
      np.savez(f, **arrays)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from others
    os.replace(tmp, path)
  except BaseException as e:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:  # name the file
      raise OSError(errno.ENOSPC, 'no space left on device', str(path)) from e
    raise


def load(path: str | os.PathLike) -> FeatureSet:
  """Reads a FeatureSet written by `save` (no pickles)."""
  with np.load(path, allow_pickle=False) as z:
    if 'format' not in z.files or str(z['format']) != FORMAT:
      raise ValueError(f'{path}: not a {FORMAT} file')
    return FeatureSet(
        x=z['x'], label=z['label'].astype(np.int32),
        utterance=z['utterance'].astype(np.int32), speaker=z['speaker'],
        corpus=z['corpus'], sex=z['sex'],
        class_names=tuple(str(s) for s in z['class_names']),
        utterance_ids=tuple(str(s) for s in z['utterance_ids']),
        params=json.loads(str(z['params'])))


def _str_array(values) -> np.ndarray:
  """Unicode array (never object dtype, so loading needs no pickle)."""
  values = [str(v) for v in values]
  return np.asarray(values, dtype=str) if values else np.zeros(0, '<U1')


# --------------------------------------------------------------------------
# Row operations.


def select(fs: FeatureSet, rows: np.ndarray | Sequence[int]) -> FeatureSet:
  """The rows picked by a boolean mask [n] or an index array.

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
  set's params], 'corpus': 'a+b'}.
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
      speaker = _str_array(f'{c}:{s}' for c, s in zip(fs.corpus, speaker))
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
    arrays[k] = _str_array(arrays[k])
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


# --------------------------------------------------------------------------
# Extraction.


def feature_params(modality: str, overrides: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
  """The complete feature parameters for a modality (defaults + overrides).

  audio: {'sr': 16000, **audio.logmel_params()}; video: video.crop_params()
  ({'faces': 'given'} takes each frame as the face, no detection); image:
  the same without frame_step (a picture is one frame).
  Audio overrides naming `functionals` (an openSMILE feature set) select
  per-file functionals instead: `functionals.functionals_params`.
  """
  overrides = dict(overrides or {})
  if modality == 'audio' and 'functionals' in overrides:
    return functionals.functionals_params(overrides['functionals'],
                                          overrides.get('sr', 16000))
  if modality == 'audio':
    sr = overrides.pop('sr', 16000)
    return {'sr': int(sr), **audio.logmel_params(**overrides)}
  if modality == 'video':
    return video.crop_params(**overrides)
  if modality == 'image':
    params = video.crop_params(**overrides)
    del params['frame_step']
    return params
  raise ValueError(f'modality must be one of {corpora.MODALITIES}, got '
                   f'{modality!r}')


def file_features(path: str, modality: str, params: Mapping[str, Any]
                  ) -> np.ndarray:
  """Rows of one file: [n_segments, 64, 64, 3] float32 (audio), [n_frames,
  ...] uint8 (video), [1, ...] uint8 (image) or [1, D] float32 functionals."""
  params = dict(params)
  if 'functionals' in params:
    return functionals.file_functionals(path, params['functionals'],
                                        params['sr'])
  if modality == 'audio':
    sr = params.pop('sr')
    return audio.logmel_segments(audio.load_audio(path, sr), sr, **params)
  size, step = params.pop('size'), params.pop('frame_step', 1)
  faces = params.pop('faces', 'detect')
  params.pop('cascade', None)
  detector = video.DetectorParams(**params)
  if modality == 'image':
    return video.image_face_crops(path, size=size, params=detector,
                                  faces=faces)
  return video.face_crops(path, size=size, frame_step=step, params=detector,
                          faces=faces)


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
  corpus root does not).
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
    out: .npz to write (atomically). If it already holds features of the
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
    The FeatureSet; its params hold the feature parameters, corpus,
    modality, cache_key, n_files and skipped.
  """
  return _extract(corpus, root, modality, out, workers, on_error, params,
                  progress)[0]


def _extract(corpus, root, modality, out, workers, on_error, params, progress
             ) -> tuple[FeatureSet, bool]:
  """`extract`, also saying whether the cache was reused."""
  if on_error not in ('raise', 'skip'):
    raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
  fparams = feature_params(modality, params)
  recs = corpora.read(corpus, root, modality)
  if not recs:
    raise corpora.CorpusError(
        f'{corpus if root is None else root}: no {corpus} {modality} '
        'recordings')
  key = cache_key(corpus, modality, fparams, recs)
  if out is not None and Path(out).is_file():
    cached = _load_if_valid(out, key)
    if cached is not None and (on_error == 'skip' or
                               not cached.params.get('skipped')):
      logging.info('%s: reusing cached features (same inputs and parameters)',
                   out)
      return cached, True

  tasks = [(r.path, modality, fparams) for r in recs]
  bar = tqdm.tqdm(total=len(tasks), desc=f'{corpus} {modality}', unit='file',
                  disable=not progress)
  kept, rows, skipped = [], [], []
  with bar, _mapper(workers, len(tasks)) as mapper:
    for rec, (x, err) in zip(recs, mapper(_worker, tasks)):
      bar.update()
      if err is None:
        kept.append(rec)
        rows.append(x)
        continue
      reason = f'{type(err).__name__}: {_without_path(str(err), rec.path)}'
      if on_error == 'raise':
        raise ExtractionError(f'{rec.path}: {reason}') from err
      logging.warning('skipping %s: %s', rec.path, reason)
      skipped.append(f'{rec.utterance_id}: {reason}')

  fs = _assemble(recs, kept, rows, modality, fparams)
  fs.params.update(corpus=corpus, modality=modality, cache_key=key,
                   n_files=len(recs), skipped=skipped)
  if out is not None:
    save(fs, out)
  return fs, False


def _without_path(message: str, path: str) -> str:
  """The message without the absolute path (we prefix the relative id)."""
  return message.removeprefix(f'{path}: ').replace(path,
                                                   os.path.basename(path))


def _load_if_valid(path, key: str) -> FeatureSet | None:
  try:
    fs = load(path)
  except Exception as e:  # pylint: disable=broad-except
    logging.warning('%s: unreadable cache, recomputing (%s)', path, e)
    return None
  return fs if fs.params.get('cache_key') == key else None


@contextlib.contextmanager
def _single_threaded():
  """BLAS and OpenCV on one thread for the duration (restored afterwards).

  Per-file work is small (a 64×257 mel matrix product, one Haar pass), so
  library threads only contend with the other workers and with whatever
  else runs: on a busy 2-core machine that made extraction ~4× slower.
  """
  cv_threads = cv2.getNumThreads()
  cv2.setNumThreads(1)
  try:
    with threadpoolctl.threadpool_limits(limits=1):
      yield
  finally:
    cv2.setNumThreads(cv_threads)


def _init_worker(parent_pid: int) -> None:
  """Process-pool initializer: the worker ends with its parent, and runs
  single-threaded libraries for its life."""
  _end_with_parent(parent_pid)
  cv2.setNumThreads(1)
  threadpoolctl.threadpool_limits(limits=1)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _end_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
  """Ends this worker when `parent_pid` dies, even by SIGKILL.

  A killed parent cannot shut its pool down, and the workers (blocked on
  their task queue) would live on as orphans, keeping multiprocessing's
  resource tracker alive with them. Linux: the kernel sends SIGKILL when the
  parent dies (prctl PR_SET_PDEATHSIG). Elsewhere, a daemon thread polls the
  parent id (re-parenting changes it) every `poll_s` seconds.
  """
  try:
    import ctypes  # pylint: disable=g-import-not-at-top
    libc = ctypes.CDLL(None, use_errno=True)
    linux = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
  except (OSError, AttributeError):  # not Linux
    linux = False
  if os.getppid() != parent_pid:  # died before the signal was armed
    os._exit(1)  # pylint: disable=protected-access
  if linux:
    return

  def watch():
    while os.getppid() == parent_pid:
      time.sleep(poll_s)
    os._exit(1)  # pylint: disable=protected-access

  threading.Thread(target=watch, daemon=True, name='end-with-parent').start()


@contextlib.contextmanager
def _mapper(workers: int, n_tasks: int):
  """An ordered, lazy map: in-process, or over a spawn-started process pool.

  spawn, not fork: callers may have JAX (multithreaded) loaded.
  """
  if workers <= 1 or n_tasks <= 1:
    with _single_threaded():
      yield map
    return
  ctx = multiprocessing.get_context('spawn')
  with cf.ProcessPoolExecutor(min(workers, n_tasks), mp_context=ctx,
                              initializer=_init_worker,
                              initargs=(os.getpid(),)) as ex:
    try:
      yield functools.partial(ex.map, chunksize=max(1, min(8, n_tasks //
                                                          (4 * workers))))
    except BaseException:
      ex.shutdown(wait=False, cancel_futures=True)
      raise


def _assemble(recs, kept, rows, modality, fparams) -> FeatureSet:
  """One FeatureSet from per-file row blocks (kept[i] made rows[i])."""
  names = labels.ordered(r.label for r in recs)  # skipping never drops a class
  counts = [len(x) for x in rows]
  if rows:
    x = np.concatenate(rows)
  elif 'functionals' in fparams:
    x = np.zeros((0, 0), np.float32)
  elif modality == 'audio':
    x = np.zeros((0, fparams['n_mels'], fparams['segment_frames'], 3),
                 np.float32)
  else:
    x = np.zeros((0, fparams['size'], fparams['size'], 3), np.uint8)

  def per_row(values):
    return np.repeat(np.asarray(values), counts) if rows else np.zeros(0, int)

  return FeatureSet(
      x=x,
      label=per_row([names.index(r.label) for r in kept]).astype(np.int32),
      utterance=per_row(np.arange(len(kept))).astype(np.int32),
      speaker=_str_array(per_row([r.speaker for r in kept])),
      corpus=_str_array(per_row([r.corpus for r in kept])),
      sex=_str_array(per_row([r.sex for r in kept])),
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

  The file is `<corpus>_<modality>_<8 hex of the parameters>.npz` (the
  openSMILE feature set instead of the modality for functionals), so other
  parameters get their own file; changed input files recompute it. A
  manifest's file is `manifest_<stem>_<8 hex of its absolute path>_...`.
  """
  fparams = feature_params(modality, params)
  tag = hashlib.sha256(json.dumps(fparams, sort_keys=True).encode()
                       ).hexdigest()[:8]
  kind = fparams.get('functionals', modality)
  out = Path(cache_dir) / f'{cache_stem(corpus)}_{kind}_{tag}.npz'
  return extract(corpus, root, modality, out=out, workers=workers,
                 on_error=on_error, params=params, progress=progress)
