"""data_prep.video: Haar face crops on photos and assembled videos."""
import cv2
import numpy as np
import pytest

from data_prep import testing
from data_prep import video

skimage_data = pytest.importorskip('skimage.data')

# Eileen Collins's face in skimage's 512×512 astronaut photo, located by eye
# (forehead to chin, ear to ear): x 165–275, y 55–175.
FACE_X, FACE_Y = (165, 275), (55, 175)


@pytest.fixture(scope='module')
def astronaut():
  return skimage_data.astronaut()


@pytest.fixture(scope='module')
def face(astronaut):
  """A 170×170 head-and-shoulders patch around the face."""
  return astronaut[30:200, 140:310]


def test_face_found_on_photo_and_crop_covers_it(astronaut):
  x, y, w, h = video.detect_face(astronaut)
  cx, cy = x + w / 2, y + h / 2
  assert FACE_X[0] < cx < FACE_X[1] and FACE_Y[0] < cy < FACE_Y[1]
  # The box covers most of the face and not much more.
  ix = min(x + w, FACE_X[1]) - max(x, FACE_X[0])
  iy = min(y + h, FACE_Y[1]) - max(y, FACE_Y[0])
  face_area = (FACE_X[1] - FACE_X[0]) * (FACE_Y[1] - FACE_Y[0])
  assert ix * iy > 0.6 * face_area and w * h < 1.5 * face_area
  crop = video.face_crop_image(astronaut)
  assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
  ref = cv2.resize(astronaut[y:y + h, x:x + w], (64, 64),
                   interpolation=cv2.INTER_AREA)
  np.testing.assert_array_equal(crop, ref)  # RGB in, RGB out, no swap


def test_no_face_in_picture_raises():
  with pytest.raises(video.NoFaceError):
    video.face_crop_image(np.full((240, 320, 3), 90, np.uint8))


def test_opencv_without_haar_cascades_says_which_opencv_to_install(
    monkeypatch):
  monkeypatch.delattr(cv2, 'CascadeClassifier')
  video._cascade.cache_clear()  # pylint: disable=protected-access
  try:
    with pytest.raises(RuntimeError, match=r'opencv-python-headless>=4\.8,<5'):
      video.face_crop_image(np.full((240, 320, 3), 90, np.uint8))
  finally:
    video._cascade.cache_clear()  # pylint: disable=protected-access


def test_grey_picture_accepted(astronaut):
  grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
  crop = video.face_crop_image(grey, size=32)
  assert crop.shape == (32, 32, 3)
  assert (crop[..., 0] == crop[..., 1]).all()


def two_faces(face):
  """640×480 frame: a large face (left) and a smaller, paler mirrored one.

  The cascade scores the pale mirrored face higher than the larger one, so
  "highest score" and "largest box" disagree here.
  """
  pale = np.clip(np.fliplr(face) * 0.6 + 0.4 * 128, 0, 255).astype(np.uint8)
  frame = testing.place(face, size=220, xy=(40, 140))
  frame[150:330, 400:580] = cv2.resize(pale, (180, 180),
                                       interpolation=cv2.INTER_AREA)
  return frame


def test_highest_score_and_reuse_last_face(tmp_path, face):
  blank = np.zeros((480, 640, 3), np.uint8)
  single = testing.place(face, size=200, xy=(220, 140))
  path = testing.write_video(tmp_path / 'v.avi',
                             [blank, two_faces(face), blank, single, blank])
  frames = list(video.read_frames(str(path)))  # as decoded (MJPG is lossy)
  boxes, weights = video.detect_faces(frames[1])
  assert len(boxes) == 2
  best, largest = np.argmax(weights), np.argmax(boxes[:, 2])
  assert best != largest  # the case where the choice rule matters
  assert boxes[best][0] > 320  # the pale face on the right
  assert len(video.detect_faces(frames[0])[0]) == 0

  crops = video.face_crops(path)
  assert crops.shape == (5, 64, 64, 3) and crops.dtype == np.uint8
  np.testing.assert_array_equal(crops[1], video.crop(frames[1], boxes[best]))
  np.testing.assert_array_equal(
      crops[3], video.crop(frames[3], video.detect_face(frames[3])))
  np.testing.assert_array_equal(crops[0], crops[1])  # before the first face
  np.testing.assert_array_equal(crops[2], crops[1])  # most recent face
  np.testing.assert_array_equal(crops[4], crops[3])
  assert np.abs(crops[3].astype(int) - crops[1]).mean() > 5


def test_frame_step_keeps_every_nth_frame(tmp_path, face):
  frames = [testing.place(face, canvas=(240, 320), size=150, xy=(80 + i, 40))
            for i in range(7)]
  path = testing.write_video(tmp_path / 'v.avi', frames)
  assert video.face_crops(path, frame_step=3).shape == (3, 64, 64, 3)
  assert video.face_crops(path, size=32).shape == (7, 32, 32, 3)


def test_video_without_face_raises_naming_it(tmp_path):
  path = testing.write_video(tmp_path / 'noface.avi',
                             [np.full((120, 160, 3), v, np.uint8)
                              for v in (0, 80, 160)])
  with pytest.raises(video.NoFaceError, match='noface.avi'):
    video.face_crops(path)


def test_unreadable_and_empty_videos_raise_naming_them(tmp_path):
  (tmp_path / 'empty.avi').write_bytes(b'')
  with pytest.raises(video.VideoError, match='empty.avi'):
    video.face_crops(tmp_path / 'empty.avi')
  (tmp_path / 'junk.avi').write_bytes(np.random.default_rng(0).bytes(5000))
  with pytest.raises(video.VideoError, match='junk.avi'):
    video.face_crops(tmp_path / 'junk.avi')
