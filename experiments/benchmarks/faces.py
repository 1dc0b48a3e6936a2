"""Item 'faces': face-crop throughput (Haar cascade, video decoding
included) on a 640x480 video built from a real photo."""
from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from experiments.benchmarks import common


def bench_faces(num_frames: int) -> dict[str, Any]:
  """Face-crop throughput on a 640x480 MJPG video built from a real photo
  (skimage's astronaut, moving across the frame), decoding included."""
  from skimage import data as skdata  # pylint: disable=g-import-not-at-top
  from data_prep import testing, video  # pylint: disable=g-import-not-at-top
  head = skdata.astronaut()[0:300, 100:400]  # head and shoulders
  frames = [testing.place(head, size=200 + 2 * (i % 20),
                          xy=(40 + (4 * i) % 360, 20 + (2 * i) % 200))
            for i in range(num_frames)]
  with tempfile.TemporaryDirectory() as tmp:
    path = testing.write_video(os.path.join(tmp, 'faces.avi'), frames)
    t0 = time.perf_counter()
    crops = video.face_crops(path)
    seconds = time.perf_counter() - t0
  return {'frames': int(crops.shape[0]), 'resolution': '640x480',
          'seconds': seconds, 'frames_per_s': crops.shape[0] / seconds}


def run(ctx: common.Context) -> dict[str, Any]:
  return bench_faces(16 if ctx.quick else 120)


def markdown(fc: dict[str, Any]) -> list[str]:
  """The item's section of the report."""
  out = ['### 7. Face crops (Haar cascade, decoding included)', '',
         f"{fc['frames']} frames of {fc['resolution']} in "
         f"{fc['seconds']:.1f} s: **{fc['frames_per_s']:.1f} frames/s**", '']
  return out
