"""data_prep.functionals: openSMILE functionals, one row per file, cached."""
import numpy as np
import pytest

from data_prep import __main__ as cli
from data_prep import functionals
from data_prep import store
from data_prep import testing

pytest.importorskip('opensmile')

EGEMAPS = {'functionals': 'eGeMAPSv02'}


@pytest.fixture
def emodb_tree(tmp_path):
  """Two short EMO-DB-named tones (speakers 03 and 08)."""
  root = tmp_path / 'emodb'
  for i, name in enumerate(('03a01Wa.wav', '08a01Na.wav')):
    testing.write_wav(root / 'wav' / name,
                      testing.tone(0.6, 16000, 150 + 60 * i, seed=i), 16000)
  return root


def test_one_row_of_functionals_per_file(emodb_tree):
  fs = store.extract('emodb', emodb_tree, params=EGEMAPS, workers=1,
                     progress=False)
  assert fs.x.shape == (2, 88) and fs.x.dtype == np.float32
  np.testing.assert_array_equal(fs.utterance, [0, 1])
  assert list(fs.speaker) == ['03', '08']
  assert fs.utterance_ids == ('wav/03a01Wa.wav', 'wav/08a01Na.wav')
  assert fs.params['functionals'] == 'eGeMAPSv02' and fs.params['sr'] == 16000
  expected = functionals.file_functionals(emodb_tree / 'wav' / '08a01Na.wav',
                                          'eGeMAPSv02')
  np.testing.assert_array_equal(fs.x[1], expected[0])
  assert len(functionals.feature_names('eGeMAPSv02')) == 88


def test_functionals_are_cached_apart_from_log_mel(emodb_tree, tmp_path):
  cache = tmp_path / 'cache'
  first = store.cached_features('emodb', emodb_tree, 'audio', cache,
                                workers=1, params=EGEMAPS, progress=False)
  again = store.cached_features('emodb', emodb_tree, 'audio', cache,
                                workers=1, params=EGEMAPS, progress=False)
  np.testing.assert_array_equal(first.x, again.x)
  assert again.params['cache_key'] == first.params['cache_key']
  logmel = store.cached_features('emodb', emodb_tree, 'audio', cache,
                                 workers=1, progress=False)
  assert logmel.x.shape[1:] == (64, 64, 3)
  assert [len(list(cache.glob(f'emodb_{kind}_*.fs')))
          for kind in ('audio', 'eGeMAPSv02')] == [1, 1]


def test_unknown_feature_set_is_refused():
  with pytest.raises(ValueError, match='unknown openSMILE feature set.*'
                     'ComParE_2016'):
    store.feature_params('audio', {'functionals': 'NoSuchSet'})


def test_cli_extracts_functionals(emodb_tree, tmp_path, capsys):
  out = tmp_path / 'f.npz'
  assert cli.main(['extract', '--corpus', 'emodb', '--root', str(emodb_tree),
                   '--functionals', 'eGeMAPSv02', '--out', str(out),
                   '--workers', '1', '--no_progress']) == 0
  assert '2 files, 2 rows of functionals, 0 skipped' in capsys.readouterr().out
  assert store.load(out).x.shape == (2, 88)
