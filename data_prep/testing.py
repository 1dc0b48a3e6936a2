"""Tiny media files for tests: tones, wavs, videos with and without audio.

Used to build fixture corpora in the documented layouts without downloads.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf


def tone(seconds: float, sr: int = 16000, freq: float = 220.0,
         amp: float = 0.3, noise: float = 0.01, seed: int = 0) -> np.ndarray:
  """float32[round(seconds·sr)] sine plus a little white noise."""
  t = np.arange(int(round(seconds * sr))) / sr
  rng = np.random.default_rng(seed)
  y = amp * np.sin(2 * np.pi * freq * t) + noise * rng.normal(size=t.shape)
  return y.astype(np.float32)


def write_wav(path: str | os.PathLike, y: np.ndarray, sr: int = 16000,
              **kwargs) -> Path:
  """Writes y ([n] or [n, channels]) with soundfile, creating folders."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  sf.write(path, y, sr, **kwargs)
  return path


def write_video(path: str | os.PathLike, frames: Sequence[np.ndarray],
                fps: float = 10.0) -> Path:
  """Silent MJPG video of uint8[h, w, 3] RGB frames (cv2.VideoWriter)."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  h, w = frames[0].shape[:2]
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps,
                           (w, h))
  if not writer.isOpened():
    raise RuntimeError(f'cv2.VideoWriter cannot write {path}')
  for f in frames:
    writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
  writer.release()
  return path


# Per container: (video codec, pixel format, audio codec or None when the
# test writer has no simple sound encoder for it). Frame sizes divisible by
# 16 suit all of them; .3gp/.3g2 (H.263) need a standard size such as
# 176×144 or 352×288.
CONTAINER_CODECS = {
    '.avi': ('mjpeg', 'yuvj420p', 'pcm_s16le'),
    '.mp4': ('mpeg4', 'yuv420p', 'aac'),
    '.m4v': ('mpeg4', 'yuv420p', 'aac'),
    '.mov': ('mpeg4', 'yuv420p', 'aac'),
    '.mkv': ('mpeg4', 'yuv420p', 'aac'),
    '.webm': ('libvpx', 'yuv420p', None),
    '.ogv': ('libvpx', 'yuv420p', None),
    '.flv': ('flv', 'yuv420p', 'aac'),
    '.f4v': ('h264', 'yuv420p', 'aac'),
    '.mpg': ('mpeg1video', 'yuv420p', 'mp2'),
    '.mpeg': ('mpeg2video', 'yuv420p', 'mp2'),
    '.vob': ('mpeg2video', 'yuv420p', 'mp2'),
    '.ts': ('mpeg2video', 'yuv420p', 'mp2'),
    '.mts': ('mpeg2video', 'yuv420p', 'mp2'),
    '.m2ts': ('mpeg2video', 'yuv420p', 'mp2'),
    '.mxf': ('mpeg2video', 'yuv420p', None),
    '.wmv': ('wmv2', 'yuv420p', 'wmav2'),
    '.asf': ('wmv2', 'yuv420p', 'wmav2'),
    '.3gp': ('h263', 'yuv420p', 'aac'),
    '.3g2': ('h263', 'yuv420p', 'aac'),
}


def write_av(path: str | os.PathLike, frames: Sequence[np.ndarray],
             y: np.ndarray | None, sr: int = 16000, fps: int = 10) -> Path:
  """Video with an audio track, via PyAV, in the container of the suffix.

  .avi: MJPEG video + 16-bit PCM audio (lossless sound, as eNTERFACE);
  .mp4: MPEG-4 video + AAC audio (as RAVDESS); other containers: the codecs
  of CONTAINER_CODECS (MPEG-1/2 need a standard rate: fps=25). y: float
  [n] or [n, channels] in [-1, 1], or None for no audio stream.
  """
  import av  # pylint: disable=g-import-not-at-top
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  vcodec, pix_fmt, acodec = CONTAINER_CODECS[path.suffix.lower()]
  if y is not None and acodec is None:
    raise ValueError(f'no test sound encoder for {path.suffix}; pass y=None')
  h, w = frames[0].shape[:2]
  with av.open(str(path), 'w') as out:
    vs = out.add_stream(vcodec, rate=fps)
    vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
    streams = [vs]
    if y is not None:
      y = np.asarray(y, np.float32)
      y = y[:, None] if y.ndim == 1 else y
      layout = 'mono' if y.shape[1] == 1 else 'stereo'
      aus = out.add_stream(acodec, rate=sr, layout=layout)
      if acodec == 'wmav2':
        aus.bit_rate = 32000  # its default is out of range at 16 kHz
      streams.append(aus)
    for f in frames:
      for p in vs.encode(av.VideoFrame.from_ndarray(f, format='rgb24')):
        out.mux(p)
    if y is not None:
      # PCM: rounded to 16 bits here; other encoders get planar float
      # converted to the sample format and frame size they take.
      resampler = av.AudioResampler(format=aus.format.name, layout=layout,
                                    rate=sr, frame_size=aus.frame_size or None)
      chunk = 1024
      blocks = [np.ascontiguousarray(y[s:s + chunk].T)
                for s in range(0, len(y), chunk)]
      for block in [*blocks, None]:
        if acodec == 'pcm_s16le':
          if block is None:
            continue
          pcm = np.round(np.clip(block, -1, 1) * 32767).astype(np.int16)
          af = av.AudioFrame.from_ndarray(pcm.T.reshape(1, -1).copy(),
                                          format='s16', layout=layout)
          af.sample_rate = sr
          frames_in = [af]
        elif block is None:
          frames_in = resampler.resample(None)
        else:
          af = av.AudioFrame.from_ndarray(block, format='fltp', layout=layout)
          af.sample_rate = sr
          frames_in = resampler.resample(af)
        for rf in frames_in:
          for p in aus.encode(rf):
            out.mux(p)
    for s in streams:
      for p in s.encode():
        out.mux(p)
  return path


def place(image: np.ndarray, canvas: tuple[int, int] = (480, 640),
          size: int = 200, xy: tuple[int, int] = (220, 140),
          background: int = 0) -> np.ndarray:
  """uint8[h, w, 3] canvas with `image` resized to size×size at xy=(x, y)."""
  frame = np.full((*canvas, 3), background, np.uint8)
  x, y = xy
  frame[y:y + size, x:x + size] = cv2.resize(image, (size, size),
                                             interpolation=cv2.INTER_AREA)
  return frame


def write_face_pictures(folder: str | os.PathLike, n: int) -> list[Path]:
  """n PNG pictures of skimage's astronaut face (needs scikit-image, a test
  extra), moved, resized, mirrored and on other backgrounds; the Haar
  cascade finds a face in each. Paths folder/face00.png, ..."""
  from skimage import data as skimage_data  # pylint: disable=g-import-not-at-top
  face = skimage_data.astronaut()[30:200, 140:310]
  paths = []
  for i in range(n):
    img = place(face, canvas=(240, 320), size=140 + (i % 3) * 10,
                xy=(40 + i * 8, 30 + (i % 4) * 10), background=40 * (i % 3))
    if i % 2:
      img = np.ascontiguousarray(np.fliplr(img))
    paths.append(write_picture(Path(folder) / f'face{i:02d}.png', img))
  return paths


def write_picture(path: str | os.PathLike, rgb: np.ndarray) -> Path:
  """Writes a uint8[h, w, 3] RGB picture (format from the suffix)."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
    raise RuntimeError(f'cv2.imwrite cannot write {path}')
  return path


def write_face_manifest(folder: str | os.PathLike, n_faces: int,
                        faceless: Sequence[str] = ()) -> Path:
  """folder/faces.csv listing n_faces face pictures in folder/pictures/
  (happiness and sadness alternating, 2 pictures a speaker) and, after them,
  plain grey pictures named `faceless`, in which no face can be found
  (labelled happiness: no class exists only through unreadable files)."""
  folder = Path(folder)
  rows = [(p.relative_to(folder).as_posix(), ('happiness', 'sadness')[i % 2],
           f'p{i // 2}')
          for i, p in enumerate(write_face_pictures(folder / 'pictures',
                                                    n_faces))]
  for name in faceless:
    path = write_picture(folder / 'pictures' / name,
                         np.full((240, 320, 3), 90, np.uint8))
    rows.append((path.relative_to(folder).as_posix(), 'happiness', 'p_none'))
  manifest = folder / 'faces.csv'
  manifest.write_text('path,label,speaker\n' +
                      ''.join(f'{p},{label},{spk}\n' for p, label, spk in rows))
  return manifest
