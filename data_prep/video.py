"""Face crops: Viola–Jones (OpenCV Haar cascade) per frame, as in the paper.

A still image is a one-frame video: its best face, or NoFaceError.

Per kept frame: detect frontal faces on a downscaled, histogram-equalised grey
copy; when several are found keep the one with the highest cascade score
(`detectMultiScale3(..., outputRejectLevels=True)` level weight); crop that box
from the full-resolution RGB frame and resize it to size×size. A frame with
no detection reuses the most recent crop of the same video; frames before the
first detection use the first detection's crop.

Face sets that are already crops (FER2013, CK+48: 48×48 grey faces) are
read with faces='given': every kept frame or picture IS the face, resized to
size×size (grey expanded to 3 equal channels) with no detection, which
would miss many such tight crops. 'detect' (the paper) is the default.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Iterator

import cv2
import numpy as np

CASCADE = 'haarcascade_frontalface_default.xml'
# How a frame becomes a face crop: Haar detection (the paper), or the whole
# frame when the inputs are face crops already.
FACES = ('detect', 'given')


class VideoError(ValueError):
  """A video or image file is missing, empty or unreadable."""


class NoFaceError(VideoError):
  """No face was detected (in any frame of a video, or in an image)."""


@dataclasses.dataclass(frozen=True)
class DetectorParams:
  """Haar detection settings (the paper only names the method).

  Attributes:
    detect_width: frames wider than this are downscaled to it for detection
      (speed); crops still come from the full frame. 0 disables downscaling.
    scale_factor: image-pyramid step of detectMultiScale.
    min_neighbors: overlapping raw detections required to keep a box.
    min_size_frac: smallest face side as a fraction of the detection image's
      shorter side (ignores tiny false positives in the background).
    margin: extra border around the detected box, as a fraction of its side
      (0 = the cascade's box exactly).
  """
  detect_width: int = 320
  scale_factor: float = 1.1
  min_neighbors: int = 5
  min_size_frac: float = 0.1
  margin: float = 0.0


@functools.lru_cache(maxsize=None)
def _cascade() -> cv2.CascadeClassifier:
  """The frontal-face cascade, loaded once per process (read-only after)."""
  if not (hasattr(cv2, 'CascadeClassifier') and hasattr(cv2, 'data')):
    # OpenCV 5 dropped the Haar module; images that preinstall it (some GPU
    # containers do) would otherwise fail with a bare AttributeError.
    raise RuntimeError(
        f'OpenCV {cv2.__version__} has no Haar cascades (OpenCV 5 removed '
        'them); install opencv-python-headless>=4.8,<5')
  path = os.path.join(cv2.data.haarcascades, CASCADE)
  cascade = cv2.CascadeClassifier(path)
  if cascade.empty():
    raise RuntimeError(f'cannot load the OpenCV Haar cascade {path}')
  return cascade


def detect_faces(rgb: np.ndarray, params: DetectorParams = DetectorParams()
                 ) -> tuple[np.ndarray, np.ndarray]:
  """All frontal faces of an RGB image with their cascade scores.

  Detection runs on a grey, histogram-equalised copy downscaled to
  `params.detect_width`; boxes are mapped back to the input's pixels.

  Args:
    rgb: uint8[h, w, 3] RGB image.
    params: detection settings.

  Returns:
    (boxes int[k, 4] as (x, y, w, h) in input pixels, weights float[k]: the
    cascade's level weights, higher = more face-like); k may be 0.
  """
  h, w = rgb.shape[:2]
  scale = 1.0
  if params.detect_width and w > params.detect_width:
    scale = params.detect_width / w
    small = cv2.resize(rgb, (params.detect_width, max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
  else:
    small = rgb
  grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
  side = max(1, int(params.min_size_frac * min(grey.shape)))
  boxes, _, weights = _cascade().detectMultiScale3(
      grey, scaleFactor=params.scale_factor, minNeighbors=params.min_neighbors,
      minSize=(side, side), outputRejectLevels=True)
  if len(boxes) == 0:
    return np.zeros((0, 4), np.int64), np.zeros(0)
  boxes = np.round(np.asarray(boxes, np.float64) / scale).astype(np.int64)
  return boxes, np.asarray(weights, np.float64).reshape(-1)


def detect_face(rgb: np.ndarray, params: DetectorParams = DetectorParams()
                ) -> tuple[int, int, int, int] | None:
  """The highest-scoring face box (x, y, w, h) of `detect_faces`, or None."""
  boxes, weights = detect_faces(rgb, params)
  if len(boxes) == 0:
    return None
  return tuple(int(v) for v in boxes[int(np.argmax(weights))])


def crop(rgb: np.ndarray, box: tuple[int, int, int, int], size: int = 64,
         margin: float = 0.0) -> np.ndarray:
  """uint8[size, size, 3] resize of `box` (grown by `margin`, clipped)."""
  x, y, w, h = box
  dx, dy = int(round(margin * w)), int(round(margin * h))
  x0, y0 = max(0, x - dx), max(0, y - dy)
  x1, y1 = min(rgb.shape[1], x + w + dx), min(rgb.shape[0], y + h + dy)
  face = rgb[y0:y1, x0:x1]
  return cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)


def face_crop_image(image: np.ndarray, size: int = 64,
                    params: DetectorParams = DetectorParams()) -> np.ndarray:
  """The best face of one RGB picture.

  Args:
    image: uint8[h, w, 3] RGB (or [h, w] grey, promoted to RGB).
    size: output side.
    params: detection settings.

  Returns:
    uint8[size, size, 3] RGB crop.

  Raises:
    NoFaceError: no face detected.
  """
  image = _as_rgb(image)
  box = detect_face(image, params)
  if box is None:
    raise NoFaceError('no face detected in the image')
  return crop(image, box, size, params.margin)


def given_face(image: np.ndarray, size: int = 64) -> np.ndarray:
  """uint8[size, size, 3]: a picture that is a face crop already, resized
  (INTER_AREA, as `crop`); grey becomes 3 equal channels."""
  return cv2.resize(_as_rgb(image), (size, size), interpolation=cv2.INTER_AREA)


def check_faces(faces: str) -> str:
  """`faces` when it is one of FACES; ValueError naming them otherwise."""
  if faces not in FACES:
    raise ValueError(f"faces must be one of {', '.join(FACES)} ('given': "
                     f'inputs are face crops already), got {faces!r}')
  return faces


def read_image(path: str | os.PathLike) -> np.ndarray:
  """uint8[h, w, 3] RGB pixels of a picture (grey ones promoted to RGB).

  Raises:
    VideoError: missing, empty or unreadable file (the message names it).
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise VideoError(f'{path}: no such file')
  if os.path.getsize(path) == 0:
    raise VideoError(f'{path}: empty file (0 bytes)')
  bgr = cv2.imread(path, cv2.IMREAD_COLOR)
  if bgr is None:
    raise VideoError(f'{path}: unreadable image (OpenCV cannot decode it)')
  return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_face_crops(path: str | os.PathLike, size: int = 64,
                     params: DetectorParams = DetectorParams(),
                     faces: str = 'detect') -> np.ndarray:
  """uint8[1, size, size, 3]: the best face of a picture file (one segment),
  or the whole picture resized when faces='given'.

  Raises:
    VideoError: missing, empty or unreadable file.
    NoFaceError: no face detected (the message names the file).
  """
  if check_faces(faces) == 'given':
    return given_face(read_image(path), size)[None]
  try:
    return face_crop_image(read_image(path), size, params)[None]
  except NoFaceError:
    raise NoFaceError(f'{os.fspath(path)}: no face detected in the image'
                      ) from None


def face_crops(path: str | os.PathLike, size: int = 64, frame_step: int = 1,
               params: DetectorParams = DetectorParams(),
               faces: str = 'detect', max_frames: int = 0) -> np.ndarray:
  """Face crops of every `frame_step`-th frame of a video (at most
  `max_frames` of them, evenly spaced).

  Args:
    path: a video file OpenCV can decode (data_prep.formats.VIDEO_EXTS).
    size: output side (paper: 64).
    frame_step: keep frames 0, step, 2·step, ... (1 = every frame, paper).
    params: detection settings.
    faces: 'detect' (Haar, the paper) or 'given' (each frame is the face).
    max_frames: of those kept frames, at most this many, evenly spaced
      (`sample_indices`; the video is decoded once more to count them);
      0 = all (the paper).

  Returns:
    uint8[n_kept_frames, size, size, 3] RGB crops, one per kept frame.

  Raises:
    VideoError: missing/empty/unreadable file or no decodable frame.
    NoFaceError: no face in any kept frame (message names the file).
  """
  path = os.fspath(path)
  if frame_step < 1:
    raise ValueError(f'frame_step must be ≥ 1, got {frame_step}')
  given = check_faces(faces) == 'given'
  keep = None  # indices among the kept frames; None: all
  if check_max_frames(max_frames):
    n_kept = -(-count_frames(path) // frame_step)
    keep = set(sample_indices(n_kept, max_frames).tolist())
  crops: list[np.ndarray | None] = []
  for i, frame in enumerate(read_frames(path)):
    if i % frame_step or (keep is not None and i // frame_step not in keep):
      continue
    if given:
      crops.append(given_face(frame, size))
      continue
    box = detect_face(frame, params)
    crops.append(None if box is None else crop(frame, box, size, params.margin))
  if not crops:
    raise VideoError(f'{path}: no decodable video frame')
  found = [c for c in crops if c is not None]
  if not found:
    raise NoFaceError(f'{path}: no face detected in any of {len(crops)} frames')
  last = found[0]  # frames before the first detection use the first one
  out = np.empty((len(crops), size, size, 3), np.uint8)
  for i, c in enumerate(crops):
    last = last if c is None else c
    out[i] = last
  return out


def sample_indices(n: int, k: int) -> np.ndarray:
  """k of range(n), evenly spaced: the middle of each of k equal parts
  (all n when k is 0 or ≥ n)."""
  if not k or k >= n:
    return np.arange(n)
  return ((2 * np.arange(k) + 1) * n) // (2 * k)


def check_max_frames(max_frames: int) -> int:
  """`max_frames` when a count ≥ 0 (0 = every frame); ValueError otherwise."""
  if isinstance(max_frames, bool) or not isinstance(
      max_frames, (int, np.integer)) or max_frames < 0:
    raise ValueError(f'max_frames must be an integer ≥ 0 (0 = all frames), '
                     f'got {max_frames!r}')
  return int(max_frames)


def read_frames(path: str) -> Iterator[np.ndarray]:
  """Yields uint8[h, w, 3] RGB frames of a video (OpenCV's decoder)."""
  cap = _capture(path)
  try:
    while True:
      ok, bgr = cap.read()
      if not ok:
        return
      yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
  finally:
    cap.release()


def count_frames(path: str) -> int:
  """Decodable frames of a video, counted by decoding (the container's
  frame count is missing or wrong in some formats)."""
  cap = _capture(path)
  try:
    n = 0
    while cap.grab():
      n += 1
    return n
  finally:
    cap.release()


def _capture(path: str) -> cv2.VideoCapture:
  if not os.path.isfile(path):
    raise VideoError(f'{path}: no such file')
  if os.path.getsize(path) == 0:
    raise VideoError(f'{path}: empty file (0 bytes)')
  cap = cv2.VideoCapture(path)
  if not cap.isOpened():
    cap.release()
    raise VideoError(f'{path}: unreadable video (OpenCV cannot open it)')
  return cap


def crop_params(size: int = 64, frame_step: int = 1, faces: str = 'detect',
                max_frames: int = 0, **detector: Any) -> dict[str, Any]:
  """JSON-serialisable description of the video features (cache key).

  `faces` is listed only when 'given' and `max_frames` only when set, so
  the key of the defaults (detected crops of every kept frame) is the one
  earlier caches were written with.
  """
  given = {'faces': 'given'} if check_faces(faces) == 'given' else {}
  max_frames = check_max_frames(max_frames)
  sampled = {'max_frames': max_frames} if max_frames else {}
  return dict(size=size, frame_step=frame_step, **given, **sampled,
              **dataclasses.asdict(DetectorParams(**detector)),
              cascade=CASCADE)


def _as_rgb(image: np.ndarray) -> np.ndarray:
  image = np.asarray(image)
  if image.dtype != np.uint8:
    raise TypeError(f'expected a uint8 image, got {image.dtype}')
  if image.ndim == 2:
    return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
  if image.ndim == 3 and image.shape[2] == 4:
    return np.ascontiguousarray(image[..., :3])
  return np.ascontiguousarray(image)
