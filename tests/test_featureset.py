"""data_prep.featureset's memory-mapped store (FORMAT2), streaming extraction
into it, the .npz cache's conversion, read_rows, the bounded worker map and
video frame sampling (max_frames)."""
import concurrent.futures as cf
import logging
import os
import shutil
import weakref

import numpy as np
import pytest

from data_prep import __main__ as cli
from data_prep import featureset
from data_prep import storedir
from data_prep import store
from data_prep import testing
from data_prep import video
from data_prep import workers

from test_data_store import assert_same, tiny_set
from test_data_store import counting, emodb_tree  # pylint: disable=unused-import


def test_store_roundtrip_is_bit_identical_and_mapped_read_only(tmp_path):
  fs = tiny_set(seed=3)
  fs = featureset.FeatureSet(**{**vars(fs), 'x': fs.x * np.float32(1e-30)})
  featureset.save(fs, tmp_path / 'a.fs')
  assert sorted(os.listdir(tmp_path / 'a.fs')) == ['columns.npz', 'x.bin']
  back = featureset.load(tmp_path / 'a.fs')
  assert isinstance(back.x, np.memmap) and not back.x.flags.writeable
  assert back.x.dtype == np.float32 and back.x.shape == fs.x.shape
  assert back.x.tobytes() == fs.x.tobytes()  # bit-identical, subnormals too
  assert_same(fs, back)
  with pytest.raises(ValueError):
    back.x[0, 0, 0, 0] = 1.0


def test_store_of_no_rows_roundtrips(tmp_path):
  fs = featureset.select(tiny_set(), np.zeros(4, bool))
  featureset.save(fs, tmp_path / 'empty.fs')
  back = featureset.load(tmp_path / 'empty.fs')
  assert back.x.shape == (0, 4, 4, 3) and back.x.dtype == np.float32
  assert back.utterance_ids == fs.utterance_ids


def test_interrupted_save_leaves_no_loadable_store(tmp_path, monkeypatch):
  old = tiny_set(seed=1)
  featureset.save(old, tmp_path / 'f.fs')
  real_append = storedir.RowWriter.append

  def dying_append(self, rows):  # half the rows written, then "killed"
    real_append(self, rows[:1])
    raise KeyboardInterrupt

  monkeypatch.setattr(storedir.RowWriter, 'append', dying_append)
  for name in ('f.fs', 'new.fs'):
    with pytest.raises(KeyboardInterrupt):
      featureset.save(tiny_set(seed=2), tmp_path / name)
  assert sorted(os.listdir(tmp_path)) == ['f.fs']  # no temporary, no new.fs
  assert_same(featureset.load(tmp_path / 'f.fs'), old)  # the old one intact


def test_load_refuses_an_incomplete_store(tmp_path):
  featureset.save(tiny_set(), tmp_path / 'a.fs')
  with open(tmp_path / 'a.fs' / 'x.bin', 'r+b') as f:
    f.truncate(10)
  with pytest.raises(ValueError, match='x.bin: 10 bytes, expected 768'):
    featureset.load(tmp_path / 'a.fs')
  os.remove(tmp_path / 'a.fs' / 'columns.npz')  # a build cut before commit
  with pytest.raises(ValueError, match='no columns.npz'):
    featureset.load(tmp_path / 'a.fs')


def test_save_never_replaces_a_folder_of_something_else(tmp_path):
  (tmp_path / 'mine').mkdir()
  (tmp_path / 'mine' / 'notes.txt').write_text('keep')
  with pytest.raises(ValueError, match='not a FeatureSet store'):
    featureset.save(tiny_set(), tmp_path / 'mine')
  assert (tmp_path / 'mine' / 'notes.txt').read_text() == 'keep'


def test_extraction_into_a_store_equals_the_npz_path(emodb_tree, tmp_path):
  mapped = store.extract('emodb', emodb_tree, out=tmp_path / 'e.fs',
                         workers=1, progress=False)
  archived = store.extract('emodb', emodb_tree, out=tmp_path / 'e.npz',
                           workers=1, progress=False)
  assert isinstance(mapped.x, np.memmap) and mapped.x.shape == (7, 64, 64, 3)
  assert_same(mapped, featureset.load(tmp_path / 'e.npz'))
  assert_same(archived, featureset.load(tmp_path / 'e.fs'))
  assert mapped.x.tobytes() == featureset.load(tmp_path / 'e.npz').x.tobytes()
  assert sorted(os.listdir(tmp_path)) == ['e.fs', 'e.npz', 'emodb']


def test_cli_writes_a_store(emodb_tree, tmp_path, capsys):
  out = tmp_path / 'emodb_audio.fs'
  assert cli.main(['extract', '--corpus', 'emodb', '--root', str(emodb_tree),
                   '--out', str(out), '--workers', '1', '--no_progress']) == 0
  assert '5 files, 7 segments, 0 skipped' in capsys.readouterr().out
  assert isinstance(featureset.load(out).x, np.memmap)


def test_extraction_keeps_no_rows_of_earlier_files(emodb_tree, monkeypatch):
  """Streaming: when file i is read, earlier files' row blocks are freed
  (gathering them for one concatenate kept all i alive)."""
  blocks, alive = [], []

  def fake_rows(path, modality, params):
    alive.append(sum(ref() is not None for ref in blocks))
    x = np.full((2, 64, 64, 3), len(blocks), np.float32)
    blocks.append(weakref.ref(x))
    return x

  monkeypatch.setattr(store, 'file_features', fake_rows)
  fs = store.extract('emodb', emodb_tree, workers=1, progress=False)
  assert alive == [0, 1, 1, 1, 1]  # at most the block just appended
  np.testing.assert_array_equal(fs.x[::2, 0, 0, 0], [0, 1, 2, 3, 4])


def test_bounded_map_draws_a_bounded_number_of_tasks_ahead():
  drawn = []

  def tasks():
    for i in range(40):
      drawn.append(i)
      yield i

  with cf.ThreadPoolExecutor(2) as ex:
    out, ahead = [], []
    for y in workers.bounded_map(ex, lambda t: t * t, tasks(), chunksize=3,
                                 ahead=2):
      out.append(y)
      ahead.append(len(drawn) - len(out))
  assert out == [t * t for t in range(40)]
  assert max(ahead) <= 2 * 3  # ahead chunks of chunksize tasks


def test_old_npz_cache_is_converted_once(emodb_tree, tmp_path, counting,
                                        caplog):
  cache = tmp_path / 'c'
  first = store.cached_features('emodb', emodb_tree, 'audio', cache,
                                workers=1, progress=False)
  (new,) = cache.glob('emodb_audio_*.fs')
  old = cache / (new.name.removesuffix('.fs') + '.npz')
  featureset.save(first, old)  # the cache as an earlier version wrote it
  shutil.rmtree(new)
  with caplog.at_level(logging.INFO):
    converted = store.cached_features('emodb', emodb_tree, 'audio', cache,
                                      workers=1, progress=False)
    again = store.cached_features('emodb', emodb_tree, 'audio', cache,
                                  workers=1, progress=False)
  assert len(counting) == 5  # only the first call extracted
  lines = [r.getMessage() for r in caplog.records if 'converted' in
           r.getMessage()]
  assert lines == [f'converted {old} to {new} (memory-mapped store)']
  assert isinstance(converted.x, np.memmap)
  assert_same(converted, first)
  assert_same(again, first)
  assert old.is_file()  # left in place


def test_stale_npz_cache_is_not_converted(emodb_tree, tmp_path, counting,
                                          caplog):
  cache = tmp_path / 'c'
  first = store.cached_features('emodb', emodb_tree, 'audio', cache,
                                workers=1, progress=False)
  (new,) = cache.glob('emodb_audio_*.fs')
  old = cache / (new.name.removesuffix('.fs') + '.npz')
  featureset.save(featureset.FeatureSet(
      **{**vars(first), 'params': {**first.params, 'cache_key': 'other'}}),
      old)
  shutil.rmtree(new)
  with caplog.at_level(logging.INFO):
    store.cached_features('emodb', emodb_tree, 'audio', cache, workers=1,
                          progress=False)
  assert len(counting) == 10 and 'converted' not in caplog.text


@pytest.mark.parametrize('start, stop', [(0, 4), (1, 3), (3, 9), (-3, -1),
                                         (2, 2), (5, 8)])
def test_read_rows_equals_slicing(tmp_path, monkeypatch, start, stop):
  fs = tiny_set(n_utt=2, seed=4)
  featureset.save(fs, tmp_path / 'a.fs')
  x = featureset.load(tmp_path / 'a.fs').x
  reads = []
  real_fromfile = np.fromfile
  monkeypatch.setattr(np, 'fromfile', lambda *a, **k: reads.append(k) or
                      real_fromfile(*a, **k))
  got = featureset.read_rows(x, start, stop)
  assert type(got) is np.ndarray and got.dtype == np.float32
  np.testing.assert_array_equal(got, fs.x[start:stop])
  assert len(reads) == (1 if len(fs.x[start:stop]) else 0)  # not the mapping
  np.testing.assert_array_equal(featureset.read_rows(fs.x, start, stop),
                                fs.x[start:stop])
  np.testing.assert_array_equal(featureset.read_rows(x[1:], start, stop),
                                fs.x[1:][start:stop])  # a view: sliced


def test_read_rows_of_a_replaced_store_reads_the_mapped_rows(tmp_path):
  old, new = tiny_set(seed=5), tiny_set(seed=6)
  featureset.save(old, tmp_path / 'a.fs')
  x = featureset.load(tmp_path / 'a.fs').x
  featureset.save(new, tmp_path / 'a.fs')  # same name, other bytes
  np.testing.assert_array_equal(featureset.read_rows(x, 0, 4), old.x)
  shutil.rmtree(tmp_path / 'a.fs')
  np.testing.assert_array_equal(featureset.read_rows(x, 1, 3), old.x[1:3])


def test_max_frames_keeps_evenly_spaced_frames(tmp_path):
  frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(10)]
  path = testing.write_video(tmp_path / 'v.avi', frames)
  every = video.face_crops(path, faces='given')
  three = video.face_crops(path, faces='given', max_frames=3)
  np.testing.assert_array_equal(three, every[[1, 5, 8]])
  # Of frames 0, 2, 4, 6, 8 (frame_step 2), two: the 2nd and the 4th.
  np.testing.assert_array_equal(
      video.face_crops(path, faces='given', frame_step=2, max_frames=2),
      every[[2, 6]])
  assert len(video.face_crops(path, faces='given', max_frames=50)) == 10


def test_max_frames_is_a_feature_parameter():
  assert 'max_frames' not in store.feature_params('video')  # keys unchanged
  params = store.feature_params('video', {'max_frames': 4})
  assert params['max_frames'] == 4
  assert 'max_frames' not in store.feature_params('image', {'max_frames': 4})
  with pytest.raises(ValueError, match='max_frames must be an integer'):
    store.feature_params('video', {'max_frames': -1})
