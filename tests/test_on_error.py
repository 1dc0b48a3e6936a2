"""Unreadable corpus files in every binary (config.on_error, issue 19 item 3):
'raise' stops naming the file and the setting, 'skip' leaves it out and the
run says which, and more than config.max_skipped_fraction_files skipped
stops the run."""
import dataclasses
import json

import numpy as np
import pytest

from data_prep import store
from data_prep import testing
from experiments.lib import data
from experiments.lib import finetune
from experiments.configs import default
from experiments.configs import finetune as finetune_config

pytest.importorskip('skimage')

BLANK_SKIPPED = 'pictures/blank.png: NoFaceError: no face detected in the image'


@pytest.fixture(scope='module')
def faces(tmp_path_factory):
  """A still-image manifest of 7 pictures, one without a face ('spec'), and
  a feature cache folder shared by the module's tests."""
  root = tmp_path_factory.mktemp('faces')
  manifest = testing.write_face_manifest(root, n_faces=6,
                                         faceless=('blank.png',))
  return {'spec': f'manifest:{manifest}', 'cache': str(root / 'cache')}


def _config(faces, **overrides):
  c = finetune_config.get_config('tiny')
  c.target, c.modality, c.cache_dir = faces['spec'], 'image', faces['cache']
  c.update(overrides)
  return c


def test_defaults_are_raise_and_five_percent_everywhere():
  for config in (default.get_config(), finetune_config.get_config()):
    assert (config.on_error, config.max_skipped_fraction_files) == (
        data.DEFAULT_ON_ERROR, data.DEFAULT_MAX_SKIPPED_FRACTION) == (
            'raise', 0.05)


def test_raise_names_the_file_and_the_setting(faces):
  with pytest.raises(ValueError) as e:
    data.load_corpus(faces['spec'], _config(faces))
  assert str(e.value).endswith(
      'pictures/blank.png: NoFaceError: no face detected in the image (set '
      'config.on_error=skip to skip such files, up to '
      'config.max_skipped_fraction_files of them)')


def test_skip_leaves_the_file_out_and_lists_it(faces):
  fs = data.load_corpus(faces['spec'], _config(
      faces, on_error='skip', max_skipped_fraction_files=0.2))
  assert len(fs) == 6 and 'pictures/blank.png' not in fs.utterance_ids
  assert data.skipped_files(fs) == [BLANK_SKIPPED]


def test_more_skipped_than_the_ceiling_stops_with_count_fraction_setting(
    faces):
  with pytest.raises(ValueError, match=(
      r': 1 of 7 files \(14\.3%\) could not be read, more than '
      r'config\.max_skipped_fraction_files=0\.05; first: pictures/blank\.png')):
    data.load_corpus(faces['spec'], _config(faces, on_error='skip'))


def test_the_ceiling_applies_to_a_saved_set_too(faces, tmp_path):
  fs = data.load_corpus(faces['spec'], _config(
      faces, on_error='skip', max_skipped_fraction_files=0.2))
  store.save(fs, tmp_path / 'faces.npz')
  with pytest.raises(ValueError, match='1 of 7 files'):
    data.load_corpus(str(tmp_path / 'faces.npz'), _config(faces))


def test_a_bad_setting_fails_before_any_extraction(tmp_path):
  config = default.get_config()
  config.cache_dir = str(tmp_path)
  config.on_error = 'ignore'
  with pytest.raises(ValueError, match="config.on_error must be one of "
                     "raise, skip, got 'ignore'"):
    data.load_corpus('synthetic', config)
  config.on_error, config.max_skipped_fraction_files = 'skip', 5.0
  with pytest.raises(ValueError, match=r'must be in \[0, 1\], got 5.0'):
    data.load_corpus('synthetic', config)
  assert list(tmp_path.iterdir()) == []


def _part(corpus, skipped):
  """A one-row FeatureSet of `corpus` whose extraction skipped `skipped`."""
  return store.FeatureSet(
      x=np.zeros((1, 2), np.float32), label=np.zeros(1, np.int32),
      utterance=np.zeros(1, np.int32), speaker=np.array(['s']),
      corpus=np.array([corpus]), sex=np.array(['']),
      class_names=('anger',), utterance_ids=('a.wav',),
      params={'corpus': corpus, 'n_files': 2, 'skipped': skipped})


def test_pooled_sets_name_each_skipped_file_with_its_corpus():
  pooled = store.pool([_part('emodb', ['wav/x.wav: bad']),
                       _part('savee', [])])
  twice = store.pool([pooled, _part('ravdess', ['y.wav: bad'])])
  assert data.skipped_files(pooled) == ['emodb:wav/x.wav: bad']
  assert data.skipped_files(twice) == ['emodb:wav/x.wav: bad',
                                       'ravdess:y.wav: bad']


def test_summary_note_counts_skipped_files_of_target_and_source():
  assert data.skipped_note({'target': ['a.wav: bad'],
                            'source': ['b.wav: bad', 'c.wav: bad']}) == (
      '3 corpus file(s) skipped as unreadable (config.on_error=skip); '
      'results.json lists them under skipped_files.')
  assert data.skipped_note({'target': [], 'source': []}) == ''


def test_binaries_with_flags_name_the_settings_as_flags():
  assert data.as_flags(
      'x.wav: bad (set config.on_error=skip to skip such files, up to '
      'config.max_skipped_fraction_files of them)') == (
          'x.wav: bad (set --on_error=skip to skip such files, up to '
          '--max_skipped_fraction_files of them)')


def test_reproduce_passes_its_flags_into_every_config():
  from experiments.lib import reproduce  # pylint: disable=g-import-not-at-top
  from experiments.lib import rows  # pylint: disable=g-import-not-at-top
  for row in ('a_emo', 'a_emo_ft'):  # a PathNet row and a fine-tuning row
    config = reproduce.run_config(
        next(r for r in rows.ROWS if r.name == row), 'random_kfold',
        data_root='data', cache_dir='features', on_error='skip',
        max_skipped_fraction_files=0.2)
    assert (config.on_error, config.max_skipped_fraction_files) == ('skip',
                                                                    0.2)


def test_a_still_face_corpus_with_a_faceless_photo_fine_tunes_end_to_end(
    faces, tmp_path):
  results = finetune.train_and_evaluate(
      _config(faces, on_error='skip', max_skipped_fraction_files=0.2),
      str(tmp_path))
  assert results['n_utterances'] == 6
  written = json.loads((tmp_path / 'results.json').read_text())
  assert written['skipped_files'] == {'target': [BLANK_SKIPPED], 'source': []}
  assert ('1 corpus file(s) skipped as unreadable' in
          (tmp_path / 'summary.md').read_text())


def test_baseline_skips_and_lists_an_unreadable_recording(tmp_path):
  from experiments.lib import anchor  # pylint: disable=g-import-not-at-top
  rows = []
  for i in range(6):
    name = f'tone{i}.wav'
    testing.write_wav(tmp_path / name, testing.tone(0.8, freq=200 + 150 * (
        i % 2), seed=i))
    rows.append(f'{name},{("anger", "sadness")[i % 2]},s{i // 2}\n')
  (tmp_path / 'empty.wav').write_bytes(b'')
  rows.append('empty.wav,anger,s9\n')
  (tmp_path / 'tones.csv').write_text('path,label,speaker\n' + ''.join(rows))
  result = anchor.evaluate(f'manifest:{tmp_path / "tones.csv"}',
                           n_splits=2, cache_dir=str(tmp_path / 'cache'),
                           on_error='skip', max_skipped_fraction_files=0.2)
  (skipped,) = result['skipped_files']
  assert skipped.startswith('empty.wav: ') and result['n_utterances'] == 6


def test_a_still_face_corpus_with_a_faceless_photo_evolves_end_to_end(
    faces, tmp_path):
  # The case through experiments.train, as its binary runs it.
  from experiments.lib import pathnet_protocol  # pylint: disable=g-import-not-at-top
  import tinyconfig  # pylint: disable=g-import-not-at-top
  config = tinyconfig.synthetic_run_config(
      target=faces['spec'], modality='image', cache_dir=faces['cache'],
      on_error='skip', max_skipped_fraction_files=0.2)
  config.optim.batch_size = 2
  results = pathnet_protocol.train_and_evaluate(config, str(tmp_path))
  assert results['n_utterances'] == 6
  written = json.loads((tmp_path / 'results.json').read_text())
  assert written['skipped_files'] == {'target': [BLANK_SKIPPED], 'source': []}
  assert ('1 corpus file(s) skipped as unreadable' in
          (tmp_path / 'summary.md').read_text())


def _features_with_a_nan(tmp_path):
  """The synthetic corpus as a user's .npz, one value of row 3 NaN."""
  from data_prep import store  # pylint: disable=g-import-not-at-top
  from data_prep import synthetic  # pylint: disable=g-import-not-at-top
  fs = synthetic.make_corpus(num_speakers=2, num_classes=3,
                             utterances_per_class=2)
  x = np.array(fs.x)
  x[3, 0, 0, 0] = np.nan
  path = str(tmp_path / 'user.npz')
  store.save(dataclasses.replace(fs, x=x), path)
  return path, fs.utterance_ids[fs.utterance[3]]


def test_non_finite_features_are_refused_when_loaded(tmp_path):
  from experiments.configs import default  # pylint: disable=g-import-not-at-top
  from experiments.lib import data  # pylint: disable=g-import-not-at-top
  path, utterance = _features_with_a_nan(tmp_path)
  with pytest.raises(ValueError, match=r'user.npz: non-finite feature values '
                     r'\(NaN/inf\) in 1 row\(s\) \[3\]') as e:
    data.load_corpus(path, default.get_config())
  assert utterance in str(e.value)


def test_on_error_skip_drops_the_utterance_with_non_finite_features(tmp_path):
  from experiments.configs import default  # pylint: disable=g-import-not-at-top
  from experiments.lib import data  # pylint: disable=g-import-not-at-top
  path, utterance = _features_with_a_nan(tmp_path)
  config = default.get_config()
  config.on_error = 'skip'
  config.max_skipped_fraction_files = 0.5
  fs = data.load_corpus(path, config)
  assert np.isfinite(fs.x).all()
  assert utterance not in {fs.utterance_ids[u] for u in fs.utterance}
  assert data.skipped_files(fs) == [f'{utterance}: non-finite features']
