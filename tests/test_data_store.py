"""data_prep.store: files, atomic writes, the feature cache, extraction, CLI."""
import os
from pathlib import Path

import numpy as np
import pytest

from data_prep import __main__ as cli
from data_prep import store
from data_prep import testing
from data_prep.store import FeatureSet

skimage_data = pytest.importorskip('skimage.data')

EMODB_FILES = {  # name → seconds (0.5 s: 1 segment, 1.0 s: 2)
    '03a01Wa.wav': 1.0, '03a02Wb.wav': 0.5, '08a01La.wav': 1.0,
    '08a01Na.wav': 0.5, '09b03Ta.wav': 0.5}


@pytest.fixture
def emodb_tree(tmp_path):
  root = tmp_path / 'emodb'
  for i, (name, sec) in enumerate(EMODB_FILES.items()):
    testing.write_wav(root / 'wav' / name,
                      testing.tone(sec, 22050, 150 + 40 * i, seed=i), 22050)
  return root


@pytest.fixture
def counting(monkeypatch):
  """Counts file_features calls (in-process extraction, workers=1)."""
  calls = []
  real = store.file_features

  def wrapped(path, modality, params):
    calls.append(os.path.basename(path))
    return real(path, modality, params)

  monkeypatch.setattr(store, 'file_features', wrapped)
  return calls


def tiny_set(corpus='a', classes=('anger', 'neutral'), n_utt=2, seed=0):
  rng = np.random.default_rng(seed)
  utt = np.repeat(np.arange(n_utt), 2).astype(np.int32)
  return FeatureSet(
      x=rng.normal(size=(2 * n_utt, 4, 4, 3)).astype(np.float32),
      label=(utt % len(classes)).astype(np.int32), utterance=utt,
      speaker=np.asarray([f'p{u % 2}' for u in utt]),
      corpus=np.full(2 * n_utt, corpus), sex=np.full(2 * n_utt, 'f'),
      class_names=tuple(classes),
      utterance_ids=tuple(f'u{i}.wav' for i in range(n_utt)),
      params={'corpus': corpus, 'n_mels': 4})


def assert_same(a, b):
  for k in ('x', 'label', 'utterance', 'speaker', 'corpus', 'sex'):
    np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
  assert (a.class_names, a.utterance_ids, a.params) == (
      b.class_names, b.utterance_ids, b.params)


def test_save_load_roundtrip(tmp_path):
  fs = tiny_set()
  store.save(fs, tmp_path / 'sub' / 'f.npz')
  back = store.load(tmp_path / 'sub' / 'f.npz')
  assert_same(fs, back)
  assert back.x.dtype == np.float32 and back.label.dtype == np.int32


def test_interrupted_write_leaves_no_loadable_file(tmp_path, monkeypatch):
  out = tmp_path / 'f.npz'
  old = tiny_set(seed=1)
  store.save(old, out)

  def dying_savez(f, **arrays):  # writes half an archive, then "is killed"
    f.write(b'PK\x03\x04' + b'\0' * 100)
    raise KeyboardInterrupt

  monkeypatch.setattr(np, 'savez', dying_savez)
  with pytest.raises(KeyboardInterrupt):
    store.save(tiny_set(seed=2), out)
  with pytest.raises(KeyboardInterrupt):
    store.save(tiny_set(seed=2), tmp_path / 'new.npz')
  assert sorted(p.name for p in tmp_path.iterdir()) == ['f.npz']
  assert_same(store.load(out), old)  # the previous complete file survives


def test_load_rejects_other_files(tmp_path):
  np.savez(tmp_path / 'other.npz', x=np.zeros(3))
  with pytest.raises(ValueError, match='other.npz'):
    store.load(tmp_path / 'other.npz')
  (tmp_path / 'cut.npz').write_bytes(b'PK\x03\x04' + b'\0' * 50)
  with pytest.raises(Exception):
    store.load(tmp_path / 'cut.npz')


def test_extract_audio(emodb_tree):
  fs = store.extract('emodb', emodb_tree, workers=1, progress=False)
  assert fs.x.shape == (7, 64, 64, 3) and fs.x.dtype == np.float32
  assert fs.class_names == ('neutral', 'anger', 'boredom', 'sadness')
  assert fs.utterance_ids == tuple(f'wav/{n}' for n in EMODB_FILES)
  np.testing.assert_array_equal(fs.utterance, [0, 0, 1, 2, 2, 3, 4])
  np.testing.assert_array_equal(fs.label, [1, 1, 1, 2, 2, 0, 3])
  np.testing.assert_array_equal(fs.speaker, ['03'] * 3 + ['08'] * 3 + ['09'])
  np.testing.assert_array_equal(fs.sex, ['m'] * 3 + ['f'] * 4)
  assert set(fs.corpus) == {'emodb'}
  assert fs.params['sr'] == 16000 and fs.params['n_mels'] == 64
  assert fs.params['skipped'] == [] and fs.params['n_files'] == 5


def test_cache_reused_and_invalidated(emodb_tree, tmp_path, counting):
  out = tmp_path / 'feat' / 'emodb.npz'
  first = store.extract('emodb', emodb_tree, out=out, workers=1,
                        progress=False)
  assert len(counting) == 5
  second = store.extract('emodb', emodb_tree, out=out, workers=1,
                         progress=False)
  assert len(counting) == 5  # nothing recomputed
  assert_same(first, second)
  other = store.extract('emodb', emodb_tree, out=out, workers=1,
                        params={'top_db': None}, progress=False)
  assert len(counting) == 10  # another parameter: all recomputed
  assert other.params['top_db'] is None
  assert store.load(out).params['top_db'] is None
  testing.write_wav(emodb_tree / 'wav' / '03a02Wb.wav', testing.tone(0.7),
                    16000)  # an edited file
  store.extract('emodb', emodb_tree, out=out, workers=1,
                params={'top_db': None}, progress=False)
  assert len(counting) == 15


def test_cached_features_extracts_once(emodb_tree, tmp_path, counting):
  a = store.cached_features('emodb', emodb_tree, 'audio', tmp_path / 'c',
                            workers=1, progress=False)
  b = store.cached_features('emodb', emodb_tree, 'audio', tmp_path / 'c',
                            workers=1, progress=False)
  assert len(counting) == 5
  assert_same(a, b)
  store.cached_features('emodb', emodb_tree, 'audio', tmp_path / 'c',
                        workers=1, params={'n_mels': 32}, progress=False)
  assert isinstance(a.x, np.memmap)  # the cache is a memory-mapped store
  assert len(list((tmp_path / 'c').glob('emodb_audio_*.fs'))) == 2
  assert not list((tmp_path / 'c').glob('.*'))  # no temporary left behind


def test_on_error_skip_and_raise(emodb_tree, tmp_path, caplog):
  bad = emodb_tree / 'wav' / '10a01Fa.wav'
  bad.write_bytes(b'RIFF not really a wave file')
  with pytest.raises(store.ExtractionError, match='10a01Fa.wav'):
    store.extract('emodb', emodb_tree, workers=1, progress=False)
  out = tmp_path / 'f.npz'
  fs = store.extract('emodb', emodb_tree, out=out, workers=1, on_error='skip',
                     progress=False)
  assert '10a01Fa.wav' in caplog.text
  assert len(fs.params['skipped']) == 1
  assert fs.params['skipped'][0].startswith('wav/10a01Fa.wav: AudioError')
  assert str(emodb_tree) not in fs.params['skipped'][0]  # relative ids only
  assert len(fs) == 7 and len(fs.utterance_ids) == 5  # nothing else lost
  assert 'happiness' in fs.class_names  # the bad file's class is kept
  # A cache with skipped files is not silently reused by a 'raise' run.
  with pytest.raises(store.ExtractionError):
    store.extract('emodb', emodb_tree, out=out, workers=1, progress=False)


def test_process_pool_matches_in_process(emodb_tree):
  one = store.extract('emodb', emodb_tree, workers=1, progress=False)
  two = store.extract('emodb', emodb_tree, workers=2, progress=False)
  assert_same(one, two)


def test_extract_video_one_row_per_frame(tmp_path):
  face = skimage_data.astronaut()[30:200, 140:310]
  root = tmp_path / 'savee'
  for name, n in (('a01.avi', 3), ('n02.avi', 2)):
    frames = [testing.place(face, canvas=(240, 320), size=150,
                            xy=(60 + 5 * i, 40)) for i in range(n)]
    testing.write_video(root / 'AudioVisualClip' / 'DC' / name, frames)
  fs = store.extract('savee', root, modality='video', workers=1,
                     progress=False)
  assert fs.x.shape == (5, 64, 64, 3) and fs.x.dtype == np.uint8
  np.testing.assert_array_equal(fs.utterance, [0, 0, 0, 1, 1])
  assert fs.class_names == ('neutral', 'anger')
  np.testing.assert_array_equal(fs.label, [1, 1, 1, 0, 0])
  assert fs.params['size'] == 64 and fs.params['frame_step'] == 1


def test_select_keeps_tables():
  fs = tiny_set(n_utt=3)
  sub = store.select(fs, fs.utterance == 1)
  np.testing.assert_array_equal(sub.utterance, [1, 1])
  np.testing.assert_array_equal(sub.x, fs.x[2:4])
  assert sub.utterance_ids == fs.utterance_ids
  assert sub.class_names == fs.class_names
  np.testing.assert_array_equal(store.select(fs, [5, 0]).label,
                                fs.label[[5, 0]])
  with pytest.raises(ValueError, match='mask'):
    store.select(fs, np.ones(3, bool))


def test_pool_remaps_labels_offsets_and_prefixes():
  a = tiny_set('enterface', ('anger', 'surprise'), n_utt=2)
  b = tiny_set('savee', ('neutral', 'anger'), n_utt=3)
  p = store.pool([a, b])
  assert p.class_names == ('neutral', 'anger', 'surprise')
  names = np.asarray(p.class_names)
  np.testing.assert_array_equal(
      names[p.label],
      np.concatenate([np.asarray(a.class_names)[a.label],
                      np.asarray(b.class_names)[b.label]]))
  np.testing.assert_array_equal(p.utterance, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
  assert p.utterance_ids[:3] == ('enterface:u0.wav', 'enterface:u1.wav',
                                 'savee:u0.wav')
  assert set(p.speaker) == {'enterface:p0', 'enterface:p1', 'savee:p0',
                            'savee:p1'}
  np.testing.assert_array_equal(p.x, np.concatenate([a.x, b.x]))
  assert p.params['corpus'] == 'enterface+savee'
  again = store.pool([p, tiny_set('emodb', ('boredom',), n_utt=1)])
  assert 'enterface:p0' in set(again.speaker)  # no double prefix
  assert again.class_names == ('neutral', 'anger', 'boredom', 'surprise')
  with pytest.raises(ValueError, match='shapes'):
    store.pool([a, FeatureSet(**{**a.__dict__, 'x': a.x.astype(np.uint8)})])


def test_cli_extract_and_reuse(emodb_tree, tmp_path, capsys):
  out = tmp_path / 'features' / 'emodb_audio.npz'
  argv = ['extract', '--corpus', 'emodb', '--root', str(emodb_tree),
          '--modality', 'audio', '--out', str(out), '--workers', '1',
          '--no_progress']
  assert cli.main(argv) == 0
  line = capsys.readouterr().out
  assert 'emodb audio: 5 files, 7 segments, 0 skipped' in line
  assert len(store.load(out)) == 7
  assert cli.main(argv) == 0
  assert 'cache reused' in capsys.readouterr().out


EMODB_REAL = (Path(__file__).resolve().parents[1].parent / 'shared' / 'data'
              / 'emodb')


@pytest.mark.slow
@pytest.mark.skipif(not EMODB_REAL.is_dir(), reason='../shared/data/emodb absent')
def test_real_emodb_features(tmp_path):
  # This copy's files are all exactly 2.000 s → 201 frames → 5 segments.
  fs = store.extract('emodb', EMODB_REAL, out=tmp_path / 'e.npz', workers=2,
                     progress=False)
  assert fs.x.shape == (2675, 64, 64, 3) and np.isfinite(fs.x).all()
  assert len(fs.utterance_ids) == 535 and len(set(fs.speaker)) == 10
  assert np.bincount(fs.utterance).tolist() == [5] * 535
