"""One file's rows: the feature parameters of each modality (the cache's
description of the features) and their computation from one file.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from data_prep import audio
from data_prep import corpora
from data_prep import functionals
from data_prep import video


def feature_params(modality: str, overrides: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
  """The complete feature parameters for a modality (defaults + overrides).

  audio: {'sr': 16000, **audio.logmel_params()}; video: video.crop_params()
  ({'faces': 'given'} takes each frame as the face, no detection; frame_step
  and max_frames sample the frames); image: the same without frame sampling
  (a picture is one frame).
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
    params.pop('max_frames', None)
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
  max_frames = params.pop('max_frames', 0)
  faces = params.pop('faces', 'detect')
  params.pop('cascade', None)
  detector = video.DetectorParams(**params)
  if modality == 'image':
    return video.image_face_crops(path, size=size, params=detector,
                                  faces=faces)
  return video.face_crops(path, size=size, frame_step=step, params=detector,
                          faces=faces, max_frames=max_frames)


def empty_rows(modality: str, fparams: Mapping[str, Any]) -> np.ndarray:
  """Zero rows of the modality's dtype and row shape (no file kept)."""
  if 'functionals' in fparams:
    return np.zeros((0, 0), np.float32)
  if modality == 'audio':
    return np.zeros((0, fparams['n_mels'], fparams['segment_frames'], 3),
                    np.float32)
  return np.zeros((0, fparams['size'], fparams['size'], 3), np.uint8)
