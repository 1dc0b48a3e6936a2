"""A trained PathNet model applied to one recording (the binary:
experiments/predict.py).

Reads `workdir/model/` (written by experiments/lib/outputs.py: orbax
parameters, meta.json with the pathway, class names and config,
normalizer.npz), computes the same features as training (audio: log-mel + Δ
+ ΔΔ segments; video: Haar face crops of every frame; image: the face crop of
one picture), scores every segment/frame with the best pathway (or ensemble)
and aggregates at utterance level: the mean of the segment log-probabilities,
renormalised by a softmax.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import ml_collections
import numpy as np

from data_prep import formats
from experiments.lib import configs
from experiments.lib import normalize
from experiments.lib import views
from experiments.lib import workdir as workdir_lib
from pathnet_jax import ensemble
from pathnet_jax import model as model_lib
from pathnet_jax import runs as runs_lib

AUDIO_EXTS, VIDEO_EXTS, IMAGE_EXTS = (formats.AUDIO_EXTS, formats.VIDEO_EXTS,
                                      formats.IMAGE_EXTS)
# Which input kinds a model of each training modality accepts (video and
# image models both score 64x64 face crops).
ACCEPTS = {'audio': ('audio', 'video'), 'video': ('video', 'image'),
           'image': ('image', 'video')}


class PredictError(ValueError):
  """A model or input that cannot be used; the message says why."""


@dataclasses.dataclass(frozen=True)
class Model:
  """What `predict` needs from a training run.

  params: PathNet parameters; genotype: int32[L, N], or [k, L, N] for an
  ensemble (config.ensemble_size > 1); frozen_slots: None or
  (indices int32[L, F], weights float32[L, F]) of the frozen source pathway;
  class_names: C names; stats: the training fold's normaliser (None for a
  functionals-only view); config: the run's ConfigDict; feature_params: the
  feature extraction parameters; functionals_stats, functionals_params: the
  same for a view with openSMILE functionals (experiments/lib/views.py).
  """
  params: Any
  genotype: np.ndarray
  frozen_slots: tuple[np.ndarray, np.ndarray] | None
  class_names: tuple[str, ...]
  stats: normalize.NormStats | None
  config: ml_collections.ConfigDict
  feature_params: dict[str, Any]
  functionals_stats: normalize.NormStats | None = None
  functionals_params: dict[str, Any] | None = None

  @property
  def modality(self) -> str:
    return self.config.modality


def model_dir(workdir: str) -> str:
  """`workdir/model`, or workdir itself when it is the model folder."""
  inner = os.path.join(workdir, 'model')
  return inner if os.path.isdir(inner) else workdir


def load_model(workdir: str, wait_s: float = 60.0) -> Model:
  """Restores the model a training run saved in workdir (or workdir/model).

  A run that is (re)writing the model holds its lock: this waits up to
  `wait_s` for it to finish, then says the model is busy.
  """
  path = model_dir(workdir)
  lock = os.path.join(path, workdir_lib.MODEL_LOCK_NAME)
  with workdir_lib.locked(lock, shared=True, wait_s=wait_s) as held:
    if not held:
      raise PredictError(f'the model in {path!r} is being written by a '
                         f'running experiment (still after {wait_s:.0f} s); '
                         'try again when it has finished')
    return _read_model(workdir, path)


def _read_model(workdir: str, path: str) -> Model:
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  from data_prep import store  # pylint: disable=g-import-not-at-top
  meta_path = os.path.join(path, 'meta.json')
  if not os.path.isfile(meta_path):
    raise PredictError(f'no trained model in {workdir!r} (no model/meta.json; '
                       'run experiments.train with this --workdir first)')
  with open(meta_path) as f:
    meta = json.load(f)
  # No target structure: the checkpoint's own tree comes back (dense or conv
  # modules, any L), as plain host arrays.
  try:
    with ocp.StandardCheckpointer() as ckptr:
      params = ckptr.restore(os.path.abspath(os.path.join(path, 'params')))
    stats, func_stats = (_normalizer(os.path.join(path, name)) for name in
                         ('normalizer.npz', 'functionals_normalizer.npz'))
  except Exception as e:  # pylint: disable=broad-except
    raise PredictError(f'{path}: unreadable model ({type(e).__name__}: '
                       f'{str(e).splitlines()[0] if str(e) else ""})') from e
  config = configs.recorded(meta['config'])
  frozen = meta.get('frozen_slots')
  return Model(
      params=params, genotype=np.asarray(meta['genotype'], np.int32),
      frozen_slots=None if frozen is None else (
          np.asarray(frozen[0], np.int32), np.asarray(frozen[1], np.float32)),
      class_names=tuple(meta['class_names']), stats=stats, config=config,
      feature_params=meta.get('feature_params') or store.feature_params(
          config.modality),
      functionals_stats=func_stats,
      functionals_params=meta.get('functionals_params'))


def _normalizer(path: str) -> normalize.NormStats | None:
  if not os.path.exists(path):
    return None
  with np.load(path) as z:
    return normalize.NormStats(str(z['mode']), z['mean'], z['std'])


def input_kind(path: str) -> str:
  """'audio', 'video' or 'image' from the file extension (data_prep.formats,
  the one list manifests and data_prep use)."""
  kind = formats.file_kind(path)
  if kind is not None:
    return kind
  ext = os.path.splitext(path)[1].lower()
  raise PredictError(f'{path}: unsupported file type {ext or "(none)"!r}; use '
                     f'{", ".join(AUDIO_EXTS + VIDEO_EXTS + IMAGE_EXTS)}')


def input_features(path: str, model: Model) -> np.ndarray:
  """The model's input rows for one file: [n, 64, 64, 3] (n ≥ 1).

  Raises PredictError for an unsupported, unreadable or mismatched file.
  """
  from data_prep import audio  # pylint: disable=g-import-not-at-top
  from data_prep import store  # pylint: disable=g-import-not-at-top
  from data_prep import video  # pylint: disable=g-import-not-at-top
  kind = input_kind(path)
  if kind not in ACCEPTS[model.modality]:
    raise PredictError(f'{path} is {kind} input, but the model was trained on '
                       f'{model.modality} (it accepts '
                       f'{" or ".join(ACCEPTS[model.modality])} files)')
  # An audio model on a video file reads its sound track; a face model reads
  # a video's frames or a picture's face.
  modality = 'audio' if model.modality == 'audio' else kind
  try:
    return store.file_features(path, modality, model.feature_params)
  except (audio.AudioError, video.VideoError, video.NoFaceError) as e:
    raise PredictError(str(e) if path in str(e) else f'{path}: {e}') from e


def _normalised_segments(stats: normalize.NormStats, x: np.ndarray):
  if stats.mode == 'speaker':
    # The training speakers' statistics say nothing about this file's
    # speaker: the file's own segments stand in for its speaker (transductive,
    # as in evaluation; several files of one speaker would be better).
    stats = normalize.fit_normalizer(x, 'speaker', speaker=['file'] * len(x))
    return normalize.apply_normalizer(stats, x, speaker=['file'] * len(x))
  return normalize.apply_normalizer(stats, x)


def _normalised_functionals(stats: normalize.NormStats, f: np.ndarray):
  if stats.mode == 'speaker':
    # One file's functionals are one row: no statistics of its speaker.
    # The training speakers' average statistics stand in for them.
    stats = normalize.NormStats('pixel', stats.mean.mean(0),
                                stats.std.mean(0))
  return normalize.apply_normalizer(stats, f)


def model_rows(model: Model, x: np.ndarray | None,
               f: np.ndarray | None = None) -> np.ndarray:
  """What layer 1 sees for one file, as evaluation builds it: its segments
  x [n, H, W, C] normalised (the model's view is taken inside), and/or its
  functionals f [1, D] (experiments/lib/views.py)."""
  view = views.of(model.config)
  fn = None if view.functionals is None else _normalised_functionals(
      model.functionals_stats, f)
  if view.per_utterance:
    return fn
  xn = _normalised_segments(model.stats, x)
  if fn is None:
    return xn
  pooled = np.asarray(model_lib.input_view(xn, view.segments),
                      np.float32).reshape(len(xn), -1)
  return np.concatenate([pooled, np.repeat(fn, len(xn), 0)], axis=1)


def input_functionals(path: str, model: Model) -> np.ndarray:
  """The file's openSMILE functionals [1, D] as the model's run extracted
  them (a functionals view)."""
  from data_prep import audio  # pylint: disable=g-import-not-at-top
  from data_prep import store  # pylint: disable=g-import-not-at-top
  kind = input_kind(path)
  if kind not in ACCEPTS[model.modality]:
    raise PredictError(f'{path} is {kind} input, but the model was trained on '
                       f'{model.modality}')
  try:
    return store.file_features(path, 'audio', model.functionals_params)
  except (audio.AudioError, ValueError) as e:
    raise PredictError(str(e) if path in str(e) else f'{path}: {e}') from e


def member_log_probs(config, params, genotypes, frozen_slots, x_test
                     ) -> np.ndarray:
  """[k, n, C] log-probabilities of each pathway of `genotypes` [k, L, N]."""
  return runs_lib.log_probs(config, [params], [np.asarray(genotypes)],
                            [frozen_slots], [np.asarray(x_test)])[0]


def test_log_probs(config, params, genotype, frozen_slots, x_test):
  """[n, C] log-probabilities of a pathway [L, N] (frozen modules joined), or
  of an ensemble [k, L, N]: the log of its members' mean probability; as a
  run's test fold is scored."""
  genotype = np.asarray(genotype)
  members = member_log_probs(config, params, genotype.reshape(
      (-1,) + genotype.shape[-2:]), frozen_slots, x_test)
  return ensemble.mean_probability(members)


def predict_rows(model: Model, x: np.ndarray | None,
                 f: np.ndarray | None = None) -> np.ndarray:
  """Utterance-level class probabilities float64[C] of a file's rows [n, H,
  W, C] (and functionals [1, D], for views that use them)."""
  xn = model_rows(model, x, f)
  # Scored exactly as evaluation scores a test fold (ensembles included).
  lp = np.asarray(test_log_probs(
      model.config, model.params, model.genotype, model.frozen_slots, xn),
                  np.float64)
  mean_lp = lp.mean(axis=0)  # the utterance score used in evaluation
  p = np.exp(mean_lp - mean_lp.max())
  return p / p.sum()


def predict_file(model: Model, path: str) -> dict[str, Any]:
  """{'input', 'modality', 'rows', 'n_rows', 'prediction', 'probabilities'}
  of a file. modality: the file's kind; rows: what the model scored of it,
  by the model's modality ('segments' of audio, a video's sound track
  included; 'frames' of a video; 'face' of an image).

  probabilities: class name -> probability, sorted from most to least likely.
  """
  view = views.of(model.config)
  x = None if view.per_utterance else input_features(path, model)
  f = None if view.functionals is None else input_functionals(path, model)
  probs = predict_rows(model, x, f)
  order = np.argsort(-probs, kind='stable')
  return {
      'input': path, 'modality': input_kind(path),
      'rows': ROW_KINDS[model.modality],
      'n_rows': int(len(x) if x is not None else 1),
      'prediction': model.class_names[order[0]],
      'probabilities': {model.class_names[i]: float(probs[i]) for i in order},
  }


# What one scored row of a file is, by the model's modality.
ROW_KINDS = {'audio': 'segments', 'video': 'frames', 'image': 'face'}


def format_table(result: dict[str, Any]) -> str:
  rows = result['rows']
  width = max(len('class'), *map(len, result['probabilities']))
  lines = [f"{result['input']}: {result['prediction']} "
           f"({result['n_rows']} {rows})", '',
           f"{'class':<{width}}  probability"]
  lines += [f'{name:<{width}}  {p:11.4f}'
            for name, p in result['probabilities'].items()]
  return '\n'.join(lines)
