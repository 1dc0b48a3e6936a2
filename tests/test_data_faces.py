"""faces='given': face sets that are crops already (FER2013, CK+48) are
taken as the face, resized to 64×64×3, instead of being run through the
detector (which misses many tight crops)."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_prep import __main__ as cli
from data_prep import store
from data_prep import testing
from data_prep import video
from experiments.lib import data
from experiments.configs import default

skimage_data = pytest.importorskip('skimage.data')


def grey_crop(i: int = 0) -> np.ndarray:
  """uint8[48, 48]: a tight grey crop of the astronaut's face, brows to
  chin (as FER2013 crops are), shifted by i pixels."""
  rgb = skimage_data.astronaut()[70 + i:165 + i, 175:265]
  grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
  return cv2.resize(grey, (48, 48), interpolation=cv2.INTER_AREA)


@pytest.fixture
def crop_manifest(tmp_path):
  """Four 48×48 grey crops (PNG), two speakers x two classes."""
  rows = []
  for i in range(4):
    path = tmp_path / 'crops' / f'c{i}.png'
    path.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(path), grey_crop(i))
    rows.append(f'crops/c{i}.png,{("happiness", "sadness")[i % 2]},p{i // 2}')
  csv = tmp_path / 'fer.csv'
  csv.write_text('path,label,speaker\n' + '\n'.join(rows) + '\n')
  return csv


def test_detector_misses_the_tight_grey_crops():
  for i in range(4):
    with pytest.raises(video.NoFaceError):
      video.face_crop_image(grey_crop(i))


def test_given_face_is_the_picture_resized_to_three_equal_channels(
    crop_manifest):
  path = crop_manifest.parent / 'crops' / 'c0.png'
  x = video.image_face_crops(path, faces='given')
  assert x.shape == (1, 64, 64, 3) and x.dtype == np.uint8
  expected = cv2.resize(grey_crop(0), (64, 64), interpolation=cv2.INTER_AREA)
  for channel in range(3):
    np.testing.assert_array_equal(x[0, ..., channel], expected)


def test_given_faces_of_a_video_are_its_frames(tmp_path):
  frames = [np.full((48, 64, 3), 30 * i, np.uint8) for i in range(4)]
  path = testing.write_video(tmp_path / 'v.avi', frames)
  decoded = list(video.read_frames(str(path)))
  x = video.face_crops(path, frame_step=2, faces='given')
  assert x.shape == (2, 64, 64, 3)
  np.testing.assert_array_equal(x[1], video.given_face(decoded[2]))


def test_unknown_faces_setting_is_refused():
  with pytest.raises(ValueError, match='faces must be one of detect, given'):
    video.crop_params(faces='crop')


def test_detect_keeps_the_cache_key_of_earlier_extractions():
  assert 'faces' not in video.crop_params()
  assert video.crop_params(faces='given')['faces'] == 'given'


def test_extract_cli_takes_faces_given(crop_manifest, tmp_path, capsys):
  out = tmp_path / 'fer.npz'
  args = ['extract', '--corpus', f'manifest:{crop_manifest}', '--modality',
          'image', '--out', str(out), '--workers', '1', '--no_progress']
  assert cli.main(args) == 1  # the detector finds none of them
  assert 'no face detected' in capsys.readouterr().err
  assert cli.main(args + ['--faces', 'given']) == 0
  fs = store.load(out)
  assert fs.x.shape == (4, 64, 64, 3) and fs.params['faces'] == 'given'
  assert fs.class_names == ('happiness', 'sadness')


def test_config_and_spec_say_faces_given(crop_manifest, tmp_path):
  c = default.get_config()
  assert c.faces == 'detect'
  c.modality, c.cache_dir = 'image', str(tmp_path / 'cache')
  with pytest.raises(ValueError, match='no face detected'):
    data.load_corpus(f'manifest:{crop_manifest}', c)
  by_spec = data.load_corpus(f'manifest:{crop_manifest}:faces=given', c)
  c.faces = 'given'
  by_config = data.load_corpus(f'manifest:{crop_manifest}', c)
  np.testing.assert_array_equal(by_spec.x, by_config.x)
  assert len(by_spec) == 4
  assert data.spec_faces(f'manifest:{crop_manifest}', c) == 'given'
  assert data.feature_params('image', 'given')['faces'] == 'given'


def test_bad_faces_setting_is_one_clear_error(crop_manifest):
  c = default.get_config()
  c.faces = 'crops'
  with pytest.raises(ValueError, match=r"config\.faces must be one of"):
    data.load_corpus(f'manifest:{crop_manifest}', c)
  with pytest.raises(ValueError, match=r'faces=detect\|given'):
    data.parse_spec('manifest:a.csv:faces=yes')


def test_model_trained_on_given_faces_predicts_a_crop_the_same_way(tmp_path):
  from experiments.lib import inference  # pylint: disable=g-import-not-at-top
  from experiments.lib import pathnet_protocol  # pylint: disable=g-import-not-at-top
  rows = []
  for i in range(8):
    path = tmp_path / 'crops' / f'c{i}.png'
    path.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(path), grey_crop(i) if i % 2 else 255 - grey_crop(i))
    rows.append(f'crops/c{i}.png,{("happiness", "sadness")[i % 2]},p{i // 2}')
  (tmp_path / 'fer.csv').write_text('path,label,speaker\n' + '\n'.join(rows))
  c = default.get_config()
  c.target, c.modality, c.faces = f'manifest:{tmp_path / "fer.csv"}', 'image', (
      'given')
  c.cache_dir = str(tmp_path / 'cache')
  c.model.num_modules, c.model.module_units = 4, 8
  c.evolution.generations, c.evolution.population_size = 2, 4
  c.evolution.checkpoint_every = 0
  c.optim.batch_size = 4
  c.n_splits, c.folds = 2, (0,)
  workdir = str(tmp_path / 'run')
  assert pathnet_protocol.train_and_evaluate(c, workdir)['n_rows'] == 8
  model = inference.load_model(workdir)
  assert model.feature_params['faces'] == 'given'
  out = inference.predict_file(model, str(tmp_path / 'crops' / 'c3.png'))
  assert out['n_rows'] == 1 and out['modality'] == 'image'
  assert abs(sum(out['probabilities'].values()) - 1) < 1e-6
