"""Cross-corpus plumbing (issue 12): the harmonised label tables, shared
classes only, learning-curve subsets of training folds, the new configs."""
import importlib
import json
import os

import numpy as np
import pytest

from data_prep import labels
from data_prep import synthetic
from experiments.lib import data
from experiments.lib import finetune
from experiments.lib import splits
from experiments.lib import pathnet_protocol
from experiments.lib import validate
import tinyconfig
from experiments.configs import finetune as finetune_config


def tiny_config(**overrides):
  """3 speakers x 3 classes (neutral, anger, happiness) x 4 utterances."""
  return tinyconfig.synthetic_run_config(utterances_per_class=4, **overrides)


# --------------------------------------------------------------------------
# Labels.


def test_every_corpus_maps_onto_the_harmonised_vocabulary():
  assert labels.corpus_classes('ravdess') == (
      'neutral', 'calm', 'anger', 'disgust', 'fear', 'happiness', 'sadness',
      'surprise')
  assert labels.corpus_classes('emodb') == (
      'neutral', 'anger', 'boredom', 'disgust', 'fear', 'happiness',
      'sadness')
  assert labels.shared_classes(['ravdess', 'emodb']) == (
      'neutral', 'anger', 'disgust', 'fear', 'happiness', 'sadness')
  assert 'neutral' not in labels.corpus_classes('enterface')


# --------------------------------------------------------------------------
# Shared classes.


@pytest.fixture(scope='module')
def corpus():
  return synthetic.make_corpus(num_speakers=2, num_classes=3,
                               utterances_per_class=2)


def test_keep_classes_drops_rows_and_renumbers(corpus):
  assert corpus.class_names == ('neutral', 'anger', 'happiness')
  kept = data.keep_classes(corpus, ['happiness', 'neutral', 'calm'])
  assert kept.class_names == ('neutral', 'happiness')
  names = np.asarray(corpus.class_names)
  np.testing.assert_array_equal(
      np.asarray(kept.class_names)[kept.label],
      names[corpus.label][np.isin(names[corpus.label],
                                  ['neutral', 'happiness'])])


def test_restrict_to_shared_keeps_the_intersection(corpus):
  source = data.keep_classes(corpus, ['anger', 'happiness'])
  target, src = data.restrict_to_shared(corpus, source)
  assert target.class_names == src.class_names == ('anger', 'happiness')
  assert set(np.asarray(target.class_names)[target.label]) == {
      'anger', 'happiness'}
  with pytest.raises(ValueError, match='share none'):
    data.restrict_to_shared(data.keep_classes(corpus, ['neutral']), source)


def test_transfer_with_shared_classes_only_runs_on_the_intersection(tmp_path):
  config = tiny_config(task='transfer',
                       sources=('synthetic:label=anger,happiness',),
                       shared_classes_only=True)
  results = pathnet_protocol.train_and_evaluate(config, str(tmp_path))
  assert results['class_names'] == ['anger', 'happiness']
  assert results['source_best']['class_names'] == ['anger', 'happiness']
  assert results['n_utterances'] == 24  # 3 speakers x 2 classes x 4
  with open(os.path.join(tmp_path, 'model', 'meta.json')) as f:
    assert json.load(f)['class_names'] == ['anger', 'happiness']


def test_scratch_with_shared_classes_uses_the_same_rows_without_a_source(
    tmp_path):
  config = tiny_config(sources=('synthetic:label=anger,happiness',),
                       shared_classes_only=True)
  results = pathnet_protocol.train_and_evaluate(config, str(tmp_path))
  assert results['class_names'] == ['anger', 'happiness']
  assert results['source_best'] is None


def test_transfer_to_a_task_with_other_classes_gets_a_fresh_head(tmp_path):
  config = tiny_config(task='transfer',
                       sources=('synthetic:label=anger,happiness',))
  results = pathnet_protocol.train_and_evaluate(config, str(tmp_path))
  assert results['source_best']['class_names'] == ['anger', 'happiness']
  from experiments.lib import inference  # pylint: disable=g-import-not-at-top
  model = inference.load_model(str(tmp_path))
  assert model.params['head']['w'].shape[-1] == 3  # the target's classes


@pytest.mark.parametrize('overrides, words', [
    (dict(train_fraction=0.0), 'train_fraction must be in (0, 1]'),
    (dict(shared_classes_only=True), 'shared_classes_only needs'),
])
def test_bad_cross_corpus_settings_are_one_error_line(tmp_path, capsys,
                                                      overrides, words):
  assert pathnet_protocol.run(tiny_config(**overrides), str(tmp_path)) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and words in err[0]


# --------------------------------------------------------------------------
# Learning curves.


def test_subsample_keeps_whole_utterances_stratified_and_seeded():
  utterance = np.repeat(np.arange(40), 3)  # 40 utterances of 3 segments
  label = np.repeat(np.arange(40) % 4, 3)  # 10 per class
  rows = np.arange(120)
  kept = splits.subsample_utterances(rows, utterance, label, 0.5, seed=0)
  kept_utts = np.unique(utterance[kept])
  assert kept_utts.size == 20
  np.testing.assert_array_equal(np.bincount(label[kept], minlength=4) // 3,
                                [5, 5, 5, 5])  # 5 utterances per class
  assert np.all(np.isin(utterance[rows], kept_utts) == np.isin(rows, kept))
  np.testing.assert_array_equal(
      kept, splits.subsample_utterances(rows, utterance, label, 0.5, seed=0))
  assert not np.array_equal(
      kept, splits.subsample_utterances(rows, utterance, label, 0.5, seed=1))
  np.testing.assert_array_equal(
      splits.subsample_utterances(rows, utterance, label, 1.0), rows)
  assert np.unique(utterance[splits.subsample_utterances(
      rows, utterance, label, 0.01)]).size == 1  # at least one utterance


def test_train_fraction_shrinks_training_folds_only(tmp_path):
  full = pathnet_protocol.train_and_evaluate(tiny_config(), str(tmp_path / 'full'))
  half = pathnet_protocol.train_and_evaluate(tiny_config(train_fraction=0.5),
                                  str(tmp_path / 'half'))
  f, h = full['folds'][0], half['folds'][0]
  assert f['n_train_utterances'] == 18 and h['n_train_utterances'] == 9
  assert h['n_fold_train_rows'] == f['n_fold_train_rows'] == f['n_train_rows']
  assert h['n_train_rows'] < f['n_train_rows']
  assert h['n_test_rows'] == f['n_test_rows']  # test folds unchanged


def test_finetune_keeps_the_same_fraction_of_utterances(tmp_path):
  config = finetune_config.get_config('tiny')
  config.synthetic = dict(num_speakers=3, num_classes=3,
                          utterances_per_class=4)
  config.train_fraction = 0.5
  config.folds = (0,)
  results = finetune.train_and_evaluate(config, str(tmp_path))
  fold = results['folds'][0]
  assert fold['history']['n_train_utterances'] == 9
  fs = data.load_corpus(config.target, config)
  train_rows, test_rows = splits.make_folds(config.protocol, fs,
                                            config.n_splits, config.seed)[0]
  kept = splits.subsample_utterances(train_rows, fs.utterance, fs.label, 0.5,
                                     config.seed + 0)
  assert fold['history']['n_fit_rows'] == kept.size
  assert fold['n_test_rows'] == test_rows.size


def test_finetune_shared_classes_only_restricts_both_sets(tmp_path):
  config = finetune_config.get_config('tiny')
  config.source = 'synthetic:label=neutral,anger'
  config.shared_classes_only = True
  config.folds = (0,)
  results = finetune.train_and_evaluate(config, str(tmp_path))
  assert results['class_names'] == ['neutral', 'anger']


def test_older_workdirs_without_the_new_fields_still_resume(tmp_path):
  config = tiny_config()
  pathnet_protocol.claim_workdir(config, str(tmp_path))
  path = tmp_path / 'config.json'
  recorded = json.loads(path.read_text())
  del recorded['train_fraction'], recorded['shared_classes_only']
  path.write_text(json.dumps(recorded))
  pathnet_protocol.claim_workdir(config, str(tmp_path))  # no error
  with pytest.raises(ValueError, match='train_fraction'):
    pathnet_protocol.claim_workdir(tiny_config(train_fraction=0.5), str(tmp_path))


# --------------------------------------------------------------------------
# Configs.


@pytest.mark.parametrize('name, specs', [
    ('a_rav_emo', ('emodb', 'ravdess')),
    ('a_emo_rav', ('ravdess', 'emodb')),
    ('a_rav', ('ravdess',)),
    ('a_rav_emof_emom', ('emodb:sex=m', 'ravdess', 'emodb:sex=f')),
    ('a_rav_emom', ('emodb:sex=m', 'ravdess')),
])
def test_pathnet_cross_corpus_configs(name, specs):
  c = importlib.import_module(f'experiments.configs.{name}').get_config()
  validate.check_config(c)
  assert (c.target, *c.sources) == specs
  assert c.data_root == os.path.join('..', 'shared', 'data')


@pytest.mark.parametrize('name, target, source', [
    ('a_rav_emo_ft', 'emodb', 'ravdess'),
    ('a_emo_rav_ft', 'ravdess', 'emodb'),
    ('a_rav_cnn', 'ravdess', None),
])
def test_cnn_cross_corpus_configs(name, target, source):
  c = importlib.import_module(f'experiments.configs.{name}').get_config()
  assert (c.target, c.source) == (target, source)
