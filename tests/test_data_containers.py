"""Every video container data_prep.formats lists is read: frames (faces) and
sound track, through one list that manifests and predict share."""
import numpy as np
import pytest

from data_prep import audio
from data_prep import formats
from data_prep import store
from data_prep import testing
from data_prep import video
from data_prep.corpora import manifest

skimage_data = pytest.importorskip('skimage.data')


@pytest.fixture(scope='module')
def face_frames():
  """Five 352×288 (CIF: H.263 takes it) frames, the astronaut's head moving."""
  face = skimage_data.astronaut()[30:200, 140:310]
  return [testing.place(face, canvas=(288, 352), size=180, xy=(80 + 4 * i, 50))
          for i in range(5)]


def test_every_listed_video_container_has_a_test_writer():
  assert set(testing.CONTAINER_CODECS) == set(formats.VIDEO_EXTS)


def test_issue_containers_are_listed_once_for_all_readers():
  for ext in ('.flv', '.mpg', '.mpeg', '.m4v', '.wmv', '.3gp', '.ogv'):
    assert ext in formats.VIDEO_EXTS
    assert formats.file_kind(f'clip{ext.upper()}') == 'video'
  assert manifest.VIDEO_EXTS is formats.VIDEO_EXTS
  kinds = [formats.AUDIO_EXTS, formats.VIDEO_EXTS, formats.IMAGE_EXTS]
  every = [e for exts in kinds for e in exts]
  assert len(every) == len(set(every))  # an extension means one kind
  assert formats.file_kind('notes.txt') is None


@pytest.mark.parametrize('ext', formats.VIDEO_EXTS)
def test_container_gives_a_face_per_frame_and_its_sound(tmp_path, face_frames,
                                                        ext):
  with_sound = testing.CONTAINER_CODECS[ext][2] is not None
  path = testing.write_av(tmp_path / f'clip{ext}', face_frames,
                          testing.tone(1.0) if with_sound else None, fps=25)
  crops = video.face_crops(path)
  assert crops.shape == (5, 64, 64, 3) and crops.dtype == np.uint8
  if with_sound:  # 1 s at 16 kHz, give or take the codec's frame padding
    assert abs(audio.load_audio(path).size - 16000) < 2000


def test_manifest_row_in_flash_video_offers_video_and_sound(tmp_path,
                                                            face_frames):
  testing.write_av(tmp_path / 'clips' / 'a.flv', face_frames,
                   testing.tone(1.0), fps=25)
  (tmp_path / 'set.csv').write_text('path,label,speaker\n'
                                    'clips/a.flv,anger,s1\n')
  recs = manifest.records(tmp_path / 'set.csv')
  assert [(r.modality, r.utterance_id) for r in recs] == [
      ('audio', 'clips/a.flv'), ('video', 'clips/a.flv')]


def test_unknown_extension_error_lists_the_containers(tmp_path):
  (tmp_path / 'a.xyz').write_bytes(b'x')
  (tmp_path / 'set.csv').write_text('path,label,speaker\na.xyz,anger,s1\n')
  with pytest.raises(manifest.ManifestError, match=r'unknown file type') as e:
    manifest.records(tmp_path / 'set.csv')
  for ext in formats.VIDEO_EXTS:
    assert ext in str(e.value)


def test_undecodable_container_is_one_error_or_skipped(tmp_path, face_frames):
  testing.write_av(tmp_path / 'good.flv', face_frames, None, fps=25)
  (tmp_path / 'junk.flv').write_bytes(np.random.default_rng(0).bytes(5000))
  (tmp_path / 'set.csv').write_text('path,label,speaker\n'
                                    'good.flv,anger,s1\njunk.flv,sadness,s2\n')
  corpus = f'manifest:{tmp_path / "set.csv"}'
  with pytest.raises(store.ExtractionError, match=r'junk\.flv: VideoError'):
    store.extract(corpus, None, 'video', workers=1, progress=False)
  fs = store.extract(corpus, None, 'video', workers=1, on_error='skip',
                     progress=False)
  assert len(fs) == 5 and fs.utterance_ids == ('good.flv',)
  assert fs.params['skipped'][0].startswith('junk.flv: VideoError')
