"""The file types data_prep reads, by extension: ONE list for every reader.

Manifests, `data_prep extract`, `experiments.predict` (its --help too) and
docs/data.md all take their extensions from here, so a container accepted
in one place is accepted in all.

Video containers are those OpenCV's bundled FFmpeg decodes (frames) and
PyAV decodes (sound track), each checked by tests/test_data_containers.py
on a clip written in it: Flash (.flv/.f4v, CREMA-D), MPEG program/transport
streams (.mpg/.mpeg/.vob/.ts/.mts/.m2ts), MPEG-4 family (.mp4/.m4v/.mov/
.3gp/.3g2), Windows Media (.wmv/.asf), Matroska/WebM (.mkv/.webm), Ogg
video (.ogv), AVI and MXF.
"""
from __future__ import annotations

import os

AUDIO_EXTS = ('.wav', '.flac', '.ogg', '.mp3', '.m4a', '.aac')
VIDEO_EXTS = ('.avi', '.mp4', '.mov', '.mkv', '.webm', '.flv', '.f4v',
              '.mpg', '.mpeg', '.m4v', '.wmv', '.asf', '.3gp', '.3g2',
              '.ogv', '.ts', '.mts', '.m2ts', '.vob', '.mxf')
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.pgm',
              '.ppm')
KINDS = {'audio': AUDIO_EXTS, 'video': VIDEO_EXTS, 'image': IMAGE_EXTS}
# Files libsndfile cannot open: their (first) audio track is decoded by PyAV.
AV_AUDIO_EXTS = VIDEO_EXTS + ('.mp3', '.m4a', '.aac')


def file_kind(path: str | os.PathLike) -> str | None:
  """'audio', 'video' or 'image' from the extension; None if unknown."""
  ext = os.path.splitext(os.fspath(path))[1].lower()
  for kind, exts in KINDS.items():
    if ext in exts:
      return kind
  return None


def describe() -> str:
  """'audio .wav .flac ...; video .avi ...; image .jpg ...' (error messages,
  --help)."""
  return '; '.join(f'{kind} {" ".join(exts)}' for kind, exts in KINDS.items())
