"""Feature sets on disk: the one array format that flows from data_prep to experiments.

A FeatureSet holds one row per segment (audio) or face frame (video) with the
bookkeeping needed for honest splits (utterance, speaker) and pooling (corpus).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class FeatureSet:
  """Rows of features with labels and grouping columns.

  Attributes:
    x: [n, 64, 64, 3] float32 log-mel segments (band, frame, static/Δ/ΔΔ) or
      uint8 RGB face crops.
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
