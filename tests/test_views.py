"""experiments.lib.views: openSMILE functionals as layer-1 input, alone (one row
per utterance) or joined to each segment's time-pooled log-mel; through
training, transfer-free evaluation and predict."""
import json

import numpy as np
import pytest

from data_prep import synthetic
from data_prep import testing
from experiments.lib import data
from experiments.lib import inference
from experiments.lib import protocol
from experiments.lib import pathnet_protocol
from experiments.lib import validate
from experiments.lib import views
from pathnet_jax import model as model_lib
import tinyconfig

pytest.importorskip('opensmile')
EGEMAPS = 88


def test_parse_names_the_segment_view_and_the_functionals_set():
  assert views.parse('segment') == views.View('segment', None)
  assert views.parse('functionals:eGeMAPSv02') == views.View(None,
                                                             'eGeMAPSv02')
  assert views.parse('time_pooled+functionals:ComParE_2016') == views.View(
      'time_pooled', 'ComParE_2016')
  assert views.parse('functionals:eGeMAPSv02').per_utterance


@pytest.mark.parametrize('name', ['pooled', 'functionals:GeMAPS', 'x+y',
                                  'time_pooled+time_stats', ''])
def test_an_unknown_view_is_one_error_naming_the_choices(name):
  with pytest.raises(ValueError, match='model.input_view must be one of '):
    views.parse(name)


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
  """12 rendered utterances (2 speakers x 3 classes x 2) as wav files in a
  manifest, and the config of a tiny run on it."""
  root = tmp_path_factory.mktemp('voices')
  rng = np.random.default_rng(0)
  rows = []
  for speaker in synthetic.make_speakers(rng, 2):
    for emotion in ('anger', 'sadness', 'neutral'):
      for k in range(2):
        name = f'{speaker.id}_{emotion}_{k}.wav'
        testing.write_wav(root / name, synthetic.render(
            rng, speaker, emotion, rng.uniform(1.0, 1.4)))
        rows.append(f'{name},{emotion},{speaker.id}\n')
  manifest = root / 'voices.csv'
  manifest.write_text('path,label,speaker\n' + ''.join(rows))
  config = tinyconfig.synthetic_run_config(
      target=f'manifest:{manifest}', cache_dir=str(root / 'cache'))
  del config['synthetic']
  config.optim.batch_size = 4
  config.evolution.generations = 3
  return config, root


def _with_view(config, view, **overrides):
  c = config.copy_and_resolve_references()
  c.model.input_view = view
  c.update(overrides)
  return c


def test_functionals_view_has_one_row_per_utterance_with_its_label(corpus):
  config, _ = corpus
  config = _with_view(config, 'functionals:eGeMAPSv02')
  fs = data.load_corpus(config.target, config)
  funcs = views.load_functionals(config.target, config, fs, 'eGeMAPSv02')
  assert funcs.x.shape == (12, EGEMAPS)
  p, = protocol.plan(config, fs, [0], funcs=funcs)
  train_utts = np.unique(fs.utterance[p.fit_rows])
  assert p.x_fit.shape == (train_utts.size, EGEMAPS)
  np.testing.assert_array_equal(
      p.y_fit, [fs.label[fs.utterance == u][0] for u in train_utts])
  # Standardised with the training fold's utterances only.
  np.testing.assert_allclose(p.x_fit.mean(0), 0.0, atol=1e-4)
  assert len(p.x_test) == np.unique(fs.utterance[p.test_rows]).size


def test_joined_view_is_pooled_segments_then_the_utterances_functionals(
    corpus):
  config, _ = corpus
  joined = _with_view(config, 'time_pooled+functionals:eGeMAPSv02')
  pooled = _with_view(config, 'time_pooled')
  fs = data.load_corpus(config.target, config)
  funcs = views.load_functionals(config.target, joined, fs, 'eGeMAPSv02')
  p, = protocol.plan(joined, fs, [0], funcs=funcs)
  q, = protocol.plan(pooled, fs, [0])
  assert p.x_fit.shape == (len(p.fit_rows), 64 * 2 * 3 + EGEMAPS)
  np.testing.assert_array_equal(
      p.x_fit[:, :384],
      np.asarray(model_lib.input_view(q.x_fit, 'time_pooled')).reshape(
          len(q.x_fit), -1))
  utts = fs.utterance[p.fit_rows]
  same = utts == utts[0]  # segments of one utterance share its functionals
  assert same.sum() > 1
  np.testing.assert_array_equal(p.x_fit[same, 384:],
                                np.repeat(p.x_fit[:1, 384:], same.sum(), 0))


def test_speaker_mode_standardises_functionals_per_speaker(corpus):
  config, _ = corpus
  config = _with_view(config, 'functionals:eGeMAPSv02', normalize='speaker')
  fs = data.load_corpus(config.target, config)
  funcs = views.load_functionals(config.target, config, fs, 'eGeMAPSv02')
  p, = protocol.plan(config, fs, [0], funcs=funcs)
  x, _, utt = views.model_rows(views.of(config), p.stats, fs, funcs,
                               np.arange(len(fs)))
  for speaker in np.unique(funcs.speaker):
    rows = funcs.speaker[utt] == speaker
    np.testing.assert_allclose(x[rows].mean(0), 0.0, atol=1e-4)


@pytest.mark.parametrize('view', ['functionals:eGeMAPSv02',
                                  'time_pooled+functionals:eGeMAPSv02'])
def test_a_view_trains_scores_and_predicts_as_evaluation_does(
    corpus, tmp_path, view):
  config, root = corpus
  config = _with_view(config, view)
  results = pathnet_protocol.train_and_evaluate(config, str(tmp_path / 'run'))
  fold = results['folds'][0]
  assert 0.0 <= fold['utterance']['ua'] <= 1.0
  model = inference.load_model(str(tmp_path / 'run'))
  assert model.functionals_params['functionals'] == 'eGeMAPSv02'
  # A test utterance of fold 0: predict builds the rows evaluation built.
  fs = data.load_corpus(config.target, config)
  funcs = views.load_functionals(config.target, config, fs, 'eGeMAPSv02')
  p, = protocol.plan(config, fs, [0], funcs=funcs)
  u = p.utt_test[0]
  wav = str(root / fs.utterance_ids[u])
  x = None if views.of(config).per_utterance else inference.input_features(
      wav, model)
  rows = inference.model_rows(model, x, inference.input_functionals(wav, model))
  np.testing.assert_allclose(rows, p.x_test[p.utt_test == u], rtol=1e-5,
                             atol=1e-5)
  out = inference.predict_file(model, wav)
  assert sum(out['probabilities'].values()) == pytest.approx(1.0)
  with open(tmp_path / 'run' / 'model' / 'meta.json') as f:
    assert json.load(f)['config']['model']['input_view'] == view


def test_functionals_need_audio(corpus):
  config, _ = corpus
  config = _with_view(config, 'functionals:eGeMAPSv02', modality='image')
  with pytest.raises(ValueError, match='needs audio'):
    validate.check_config(config)


def test_chosen_config_is_improved_speaker_with_the_joined_compare_view():
  from experiments.configs import improved_compare, improved_speaker
  chosen, base = improved_compare.get_config(), improved_speaker.get_config()
  assert views.of(chosen) == views.parse('time_pooled+functionals:ComParE_2016')
  chosen.model.input_view = base.model.input_view
  assert chosen.to_dict() == base.to_dict()


def test_chosen_transfer_config_is_a_rav_emo_with_the_chosen_settings():
  from experiments.configs import a_rav_emo_compare, improved_compare
  transfer = a_rav_emo_compare.get_config()
  assert (transfer.task, tuple(transfer.sources), transfer.target) == (
      'transfer', ('ravdess',), 'emodb')
  # Everything but the task and sources is the scratch twin's.
  scratch = improved_compare.get_config()
  transfer.task, transfer.sources = scratch.task, scratch.sources
  assert transfer.to_dict() == scratch.to_dict()
