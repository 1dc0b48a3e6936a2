"""openSMILE functionals: one fixed-length feature vector per recording.

The standard anchor of speech-emotion recognition: the `opensmile` package's
ComParE_2016 (6,373 functionals) or eGeMAPSv02 (88) set, computed over each
whole file. The signal is read with the project's own loader (mono,
resampled to `sr`), so the anchor hears exactly what the log-mel pipeline
hears, and video containers (eNTERFACE .avi) work too.

`opensmile` is imported on first use: importing data_prep stays cheap.
"""
from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from data_prep import audio

FEATURE_SETS = ('ComParE_2016', 'eGeMAPSv02')


def _opensmile():
  import opensmile  # pylint: disable=g-import-not-at-top
  return opensmile


def functionals_params(feature_set: str = 'ComParE_2016', sr: int = 16000
                       ) -> dict[str, Any]:
  """The complete parameters of a functionals extraction (the cache key).

  Any name of `opensmile.FeatureSet` is accepted; FEATURE_SETS are the two
  the project reports. The opensmile version is part of the parameters, so
  an upgrade recomputes cached features.
  """
  opensmile = _opensmile()
  if feature_set not in opensmile.FeatureSet.__members__:
    raise ValueError(f'unknown openSMILE feature set {feature_set!r}; valid: '
                     f'{", ".join(opensmile.FeatureSet.__members__)}')
  return {'functionals': feature_set, 'sr': int(sr),
          'opensmile': opensmile.__version__}


@functools.lru_cache(maxsize=None)
def _smile(feature_set: str):
  """One extractor per feature set and process (building one costs ~0.2 s)."""
  opensmile = _opensmile()
  return opensmile.Smile(feature_set=opensmile.FeatureSet[feature_set],
                         feature_level=opensmile.FeatureLevel.Functionals)


def feature_names(feature_set: str) -> list[str]:
  """The names of the feature set's functionals, in column order."""
  return list(_smile(feature_set).feature_names)


def file_functionals(path: str | os.PathLike, feature_set: str,
                     sr: int = 16000) -> np.ndarray:
  """float32 [1, D] functionals of the whole file (D = 6373 for ComParE_2016).

  Raises:
    audio.AudioError: unreadable or empty file (names it).
    ValueError: openSMILE returned non-finite values (names the file).
  """
  y = audio.load_audio(path, sr)
  values = _smile(feature_set).process_signal(y, sr).to_numpy(np.float32)
  if not np.all(np.isfinite(values)):
    raise ValueError(f'{path}: openSMILE {feature_set} gave non-finite values')
  return values
