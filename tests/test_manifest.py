"""Manifest corpora ('manifest:PATH.csv'): reading, errors, extraction, specs,
and still images through the face pipeline."""
import csv
import logging
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from data_prep import __main__ as cli
from data_prep import corpora
from data_prep import labels
from data_prep import store
from data_prep import testing
from data_prep import video
from data_prep.corpora import manifest
from experiments.lib import data
from experiments.configs import default
import tinyconfig

REPO = Path(__file__).resolve().parents[1]
EMODB_REAL = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'emodb'


def write_manifest(path, rows, columns=('path', 'label', 'speaker', 'sex')):
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(columns)
    writer.writerows(rows)
  return path


@pytest.fixture
def audio_set(tmp_path):
  """Three 0.8 s tones in sounds/ and a manifest one folder above them."""
  for i, name in enumerate(('a.wav', 'b.wav', 'c.flac')):
    testing.write_wav(tmp_path / 'sounds' / name,
                      testing.tone(0.8, freq=200 + 100 * i, seed=i))
  return write_manifest(tmp_path / 'set' / 'voices.csv', [
      ('../sounds/a.wav', 'anger', 's1', 'f'),
      (str(tmp_path / 'sounds' / 'b.wav'), ' Sadness ', 's2', 'M'),
      ('../sounds/c.flac', 'neutral', 's1', '')])


def test_records_resolve_relative_and_absolute_paths(audio_set, tmp_path):
  recs = manifest.records(audio_set)
  assert [(Path(r.path).name, r.label, r.speaker, r.sex, r.modality)
          for r in recs] == [('a.wav', 'anger', 's1', 'f', 'audio'),
                             ('b.wav', 'sadness', 's2', 'm', 'audio'),
                             ('c.flac', 'neutral', 's1', '', 'audio')]
  assert recs[0].path == str(tmp_path / 'sounds' / 'a.wav')
  assert recs[0].utterance_id == '../sounds/a.wav'
  assert {r.corpus for r in recs} == {'voices'}  # the CSV's stem
  assert manifest.records(audio_set, 'video') == []


def test_sex_column_is_optional(tmp_path):
  testing.write_wav(tmp_path / 'a.wav', testing.tone(0.5))
  path = write_manifest(tmp_path / 'm.csv', [('a.wav', 'fear', 'x')],
                        columns=('path', 'label', 'speaker'))
  (rec,) = corpora.read(f'manifest:{path}', None)
  assert (rec.label, rec.sex) == ('fear', '')


def test_video_rows_offer_video_and_sound_track_images_offer_image(tmp_path):
  for name in ('clip.avi', 'face.png', 'talk.wav'):
    (tmp_path / name).write_bytes(b'x')  # records look at names only
  path = write_manifest(tmp_path / 'm.csv', [
      ('clip.avi', 'anger', 'a', ''), ('face.png', 'fear', 'b', ''),
      ('talk.wav', 'calm', 'c', '')])
  by_modality = lambda m: [Path(r.path).name
                           for r in manifest.records(path, m)]
  assert by_modality('audio') == ['clip.avi', 'talk.wav']
  assert by_modality('video') == ['clip.avi']
  assert by_modality('image') == ['face.png']


@pytest.mark.parametrize('rows, columns, error, match', [
    ([('gone.wav', 'anger', 's1')], ('path', 'label', 'speaker'),
     manifest.ManifestError, r'line 2: .*gone\.wav: no such file'),
    ([('a.wav', 'angry', 's1')], ('path', 'label', 'speaker'),
     labels.LabelError, r"line 2: unknown label 'angry' \(harmonised"),
    ([('a.wav', 's1')], ('path', 'speaker'),
     manifest.ManifestError, r'missing column\(s\) label'),
    ([('a.txt', 'anger', 's1')], ('path', 'label', 'speaker'),
     manifest.ManifestError, r'a\.txt: unknown file type'),
    ([('a.wav', 'anger', 's1'), ('./a.wav', 'fear', 's1')],
     ('path', 'label', 'speaker'), manifest.ManifestError,
     r'line 3: \./a\.wav is listed twice'),
    ([('a.wav', 'anger', 's1', 'x')], ('path', 'label', 'speaker', 'sex'),
     manifest.ManifestError, r"sex must be 'f', 'm' or empty"),
])
def test_bad_manifests_raise_naming_csv_and_line(tmp_path, rows, columns,
                                                 error, match):
  (tmp_path / 'a.wav').write_bytes(b'x')
  (tmp_path / 'a.txt').write_bytes(b'x')
  path = write_manifest(tmp_path / 'bad.csv', rows, columns)
  with pytest.raises(error, match=match) as info:
    manifest.records(path)
  assert 'bad.csv' in str(info.value) and '\n' not in str(info.value)


def test_missing_manifest_is_a_corpus_error(tmp_path):
  with pytest.raises(corpora.CorpusError, match='nothere.csv'):
    corpora.read(f'manifest:{tmp_path}/nothere.csv', None)


def test_cli_extracts_a_manifest_without_root(audio_set, tmp_path, capsys):
  out = tmp_path / 'voices.npz'
  assert cli.main(['extract', '--corpus', f'manifest:{audio_set}',
                   '--out', str(out), '--workers', '1', '--no_progress']) == 0
  fs = store.load(out)
  assert fs.class_names == ('neutral', 'anger', 'sadness')
  assert fs.utterance_ids == ('../sounds/a.wav', str(Path(audio_set).parent
                                                     .parent / 'sounds' /
                                                     'b.wav'),
                              '../sounds/c.flac')
  np.testing.assert_array_equal(fs.x[fs.utterance == 0],
                                store.file_features(
                                    str(tmp_path / 'sounds' / 'a.wav'),
                                    'audio', store.feature_params('audio')))


def test_every_caller_extracts_the_same_bits(audio_set, tmp_path):
  # A subprocess CLI, a spawned worker pool and an in-process call (as
  # predict makes) run with different BLAS thread settings.
  out = tmp_path / 'cli.npz'
  done = subprocess.run(
      [sys.executable, '-m', 'data_prep', 'extract', '--corpus',
       f'manifest:{audio_set}', '--out', str(out), '--workers', '1',
       '--no_progress'], cwd=REPO, capture_output=True, text=True,
      timeout=tinyconfig.HANG_GUARD_S, check=False)
  assert done.returncode == 0, done.stderr
  cli_x = store.load(out).x
  pool = store.extract(f'manifest:{audio_set}', None, workers=2,
                       progress=False)
  np.testing.assert_array_equal(pool.x, cli_x)
  in_process = np.concatenate([
      store.file_features(r.path, 'audio', store.feature_params('audio'))
      for r in manifest.records(audio_set)])
  np.testing.assert_array_equal(in_process, cli_x)


def test_cli_bad_manifest_is_one_error_line(tmp_path, capsys):
  path = write_manifest(tmp_path / 'bad.csv', [('gone.wav', 'anger', 's1')],
                        ('path', 'label', 'speaker'))
  assert cli.main(['extract', '--corpus', f'manifest:{path}', '--out',
                   str(tmp_path / 'o.npz'), '--no_progress']) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith('error: ') and 'gone.wav' in err[0]


def test_cli_other_corpora_still_need_root(tmp_path):
  with pytest.raises(SystemExit):
    cli.parse_args(['extract', '--corpus', 'emodb', '--out', 'x.npz'])
  with pytest.raises(SystemExit):
    cli.parse_args(['extract', '--corpus', 'crema', '--root', '.',
                    '--out', 'x.npz'])


def test_spec_with_filters_and_pooling(audio_set, tmp_path):
  config = default.get_config()
  config.cache_dir = str(tmp_path / 'cache')
  spec = f'manifest:{audio_set}'
  assert data.corpus_names(f'{spec}:sex=f+synthetic') == (spec, 'synthetic')
  fs = data.load_corpus(f'{spec}:speaker=s1', config)
  assert set(fs.speaker) == {'s1'}  # class list kept whole, as for corpora
  assert fs.class_names == ('neutral', 'anger', 'sadness')
  fs = data.load_corpus(f'{spec}:label=anger,sadness', config)
  assert fs.class_names == ('anger', 'sadness')
  np.testing.assert_array_equal(np.unique(fs.label), [0, 1])
  pooled = data.load_corpus(f'{spec}:sex=f+{spec}:sex=m', config)
  assert set(pooled.speaker) == {'voices:s1', 'voices:s2'}
  assert list(Path(config.cache_dir).glob('manifest_voices_*_audio_*.fs'))


def test_spec_errors(tmp_path):
  config = default.get_config()
  with pytest.raises(ValueError, match='manifest:PATH.csv'):
    data.parse_spec('manifest:faces.txt')
  with pytest.raises(ValueError, match="unknown label.*angry"):
    data.parse_spec('emodb:label=angry')
  with pytest.raises(FileNotFoundError, match='none.csv'):
    data.load_corpus(f'manifest:{tmp_path}/none.csv', config)


# --------------------------------------------------------------------------
# Still images.

skimage_data = pytest.importorskip('skimage.data')


def face_pictures(folder, n=12):
  """n pictures of skimage's astronaut face, moved, resized, mirrored and on
  different backgrounds (the Haar cascade finds each): paths."""
  import cv2  # pylint: disable=g-import-not-at-top
  face = skimage_data.astronaut()[30:200, 140:310]
  paths = []
  for i in range(n):
    img = testing.place(face, canvas=(240, 320), size=140 + (i % 3) * 10,
                        xy=(40 + i * 8, 30 + (i % 4) * 10),
                        background=40 * (i % 3))
    if i % 2:
      img = np.ascontiguousarray(np.fliplr(img))
    path = Path(folder) / f'face{i:02d}.png'
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    paths.append(path)
  return paths


def test_image_gives_one_face_crop_of_the_picture(tmp_path):
  (path,) = face_pictures(tmp_path, 1)
  rows = store.file_features(str(path), 'image',
                             store.feature_params('image'))
  assert rows.shape == (1, 64, 64, 3) and rows.dtype == np.uint8
  np.testing.assert_array_equal(
      rows[0], video.face_crop_image(video.read_image(path)))
  assert 'frame_step' not in store.feature_params('image')


def test_image_errors_name_the_file(tmp_path):
  import cv2  # pylint: disable=g-import-not-at-top
  blank = tmp_path / 'blank.png'
  cv2.imwrite(str(blank), np.full((120, 160, 3), 90, np.uint8))
  with pytest.raises(video.NoFaceError, match='blank.png'):
    video.image_face_crops(blank)
  (tmp_path / 'junk.jpg').write_bytes(b'not a picture')
  with pytest.raises(video.VideoError, match='junk.jpg: unreadable image'):
    video.image_face_crops(tmp_path / 'junk.jpg')
  (tmp_path / 'empty.png').write_bytes(b'')
  with pytest.raises(video.VideoError, match='empty.png: empty file'):
    video.image_face_crops(tmp_path / 'empty.png')


def test_image_manifest_skips_bad_pictures_when_asked(tmp_path, caplog):
  import cv2  # pylint: disable=g-import-not-at-top
  good = face_pictures(tmp_path / 'img', 2)
  cv2.imwrite(str(tmp_path / 'img' / 'blank.png'),
              np.full((120, 160, 3), 90, np.uint8))
  path = write_manifest(tmp_path / 'faces.csv', [
      ('img/face00.png', 'happiness', 'a', 'f'),
      ('img/blank.png', 'sadness', 'a', 'f'),
      ('img/face01.png', 'sadness', 'b', 'm')])
  with pytest.raises(store.ExtractionError, match='blank.png.*no face'):
    store.extract(f'manifest:{path}', None, 'image', workers=1,
                  progress=False)
  with caplog.at_level(logging.WARNING):
    fs = store.extract(f'manifest:{path}', None, 'image', workers=1,
                       on_error='skip', progress=False)
  assert 'blank.png' in caplog.text
  assert fs.params['skipped'] == [
      'img/blank.png: NoFaceError: no face detected in the image']
  assert fs.x.shape == (2, 64, 64, 3) and fs.x.dtype == np.uint8
  assert fs.utterance_ids == ('img/face00.png', 'img/face01.png')
  assert fs.class_names == ('happiness', 'sadness')  # a skip drops no class
  assert len(good) == 2


@pytest.fixture(scope='module')
def face_manifest(tmp_path_factory):
  """12 face pictures, 2 classes x 3 speakers x 2 pictures."""
  root = tmp_path_factory.mktemp('faces')
  paths = face_pictures(root / 'pictures')
  rows = [(p.relative_to(root).as_posix(), ('happiness', 'sadness')[i % 2],
           f'p{i // 4}', 'fm'[i // 4 % 2]) for i, p in enumerate(paths)]
  return write_manifest(root / 'faces.csv', rows)


def test_still_image_manifest_trains_and_predicts(face_manifest, tmp_path):
  from experiments.lib import inference  # pylint: disable=g-import-not-at-top
  from experiments.lib import pathnet_protocol  # pylint: disable=g-import-not-at-top
  c = default.get_config()
  c.target = f'manifest:{face_manifest}'
  c.modality = 'image'
  c.cache_dir = str(tmp_path / 'cache')
  c.model.num_modules, c.model.module_units = 4, 8
  c.evolution.generations, c.evolution.population_size = 2, 4
  c.evolution.checkpoint_every = 0
  c.optim.batch_size = 4
  c.n_splits, c.folds = 2, (0,)
  workdir = str(tmp_path / 'run')
  results = pathnet_protocol.train_and_evaluate(c, workdir)
  assert results['n_rows'] == results['n_utterances'] == 12
  assert results['class_names'] == ['happiness', 'sadness']
  assert results['folds'][0]['n_test_rows'] == 6
  model = inference.load_model(workdir)
  picture = str(Path(face_manifest).parent / 'pictures' / 'face03.png')
  out = inference.predict_file(model, picture)
  assert out['n_rows'] == 1 and out['modality'] == 'image'
  assert set(out['probabilities']) == {'happiness', 'sadness'}
  assert abs(sum(out['probabilities'].values()) - 1) < 1e-6
  x = store.file_features(picture, 'image', model.feature_params)
  np.testing.assert_allclose(
      [out['probabilities'][c] for c in model.class_names],
      inference.predict_rows(model, x))


# --------------------------------------------------------------------------
# The real EMO-DB copy.


@pytest.mark.skipif(not EMODB_REAL.is_dir(), reason='../shared/data/emodb absent')
def test_manifest_of_emodb_gives_the_emodb_readers_features(tmp_path):
  """Bit for bit, on the first 20 files of labels.csv (all 535 would take
  ~30 s of extraction per side on the 2-core machine): a folder of links to
  them read by the emodb reader, against a manifest built from labels.csv."""
  with open(EMODB_REAL / 'labels.csv', newline='') as f:
    listed = list(csv.DictReader(f))[:20]
  subset = tmp_path / 'emodb'
  for row in listed:
    link = subset / row['file']
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(EMODB_REAL / row['file'])
  path = write_manifest(tmp_path / 'emodb.csv', [
      (str(EMODB_REAL / r['file']), r['emotion'], r['speaker'], r['sex'])
      for r in listed])
  by_reader = store.extract('emodb', subset, workers=1, progress=False)
  by_manifest = store.extract(f'manifest:{path}', None, workers=1,
                              progress=False)
  assert by_manifest.x.dtype == by_reader.x.dtype == np.float32
  np.testing.assert_array_equal(by_manifest.x, by_reader.x)
  for column in ('label', 'utterance', 'speaker', 'sex'):
    np.testing.assert_array_equal(getattr(by_manifest, column),
                                  getattr(by_reader, column))
  assert by_manifest.class_names == by_reader.class_names
  assert len(by_reader.utterance_ids) == 20


def test_baseline_reads_a_manifest_spec(tmp_path):
  import json  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  rows = []
  for i in range(8):
    label = ('anger', 'sadness')[i % 2]
    testing.write_wav(tmp_path / f'{i}.wav', testing.tone(
        0.7, freq=150 if label == 'anger' else 600, seed=i))
    rows.append((f'{i}.wav', label, f's{i % 4}', ''))
  path = write_manifest(tmp_path / 'tones.csv', rows)
  repo = Path(__file__).resolve().parents[1]
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.baseline', f'--corpus=manifest:{path}',
       '--n_splits=2', f'--cache_dir={tmp_path / "cache"}',
       f'--out={tmp_path / "b.json"}'],
      cwd=repo, capture_output=True, text=True, timeout=tinyconfig.HANG_GUARD_S, check=False)
  assert proc.returncode == 0, proc.stderr
  result = json.loads((tmp_path / 'b.json').read_text())
  assert result['class_names'] == ['anger', 'sadness']
  assert result['aggregate']['wa_mean'] == 1.0  # 150 Hz vs 600 Hz tones
