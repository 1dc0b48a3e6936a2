"""experiments.train end to end on a tiny synthetic corpus: every task kind,
results.json, fold hygiene, training-fold normalisation, predict on the
trained models, and one clear error line for bad configs."""
import json
import os

import numpy as np
import pytest

from data_prep import synthetic
from data_prep import testing
from experiments.lib import data
from experiments.lib import normalize
from experiments.lib import inference
from experiments.lib import protocol
from experiments.lib import tensorboard
from experiments.lib import pathnet_protocol
import inprocess
import tinyconfig
from pathnet_jax import metrics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(**overrides):
  """18 utterances (3 speakers x 3 classes x 2), ~45 segments; 2 folds."""
  return tinyconfig.synthetic_run_config(**overrides)


@pytest.fixture(scope='module')
def scratch(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('scratch'))
  config = tiny_config()
  return config, workdir, pathnet_protocol.train_and_evaluate(config, workdir)


@pytest.fixture(scope='module')
def transfer(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('transfer'))
  config = tiny_config(task='transfer', sources=('synthetic',),
                       protocol='speaker_kfold', n_splits=0)
  return config, workdir, pathnet_protocol.train_and_evaluate(config, workdir)


@pytest.fixture(scope='module')
def speech(tmp_path_factory):
  rng = np.random.default_rng(1)
  y = synthetic.render(rng, synthetic.make_speakers(rng, 1)[0], 'sadness', 1.3)
  return str(testing.write_wav(tmp_path_factory.mktemp('in') / 's.wav', y))


def test_results_json_schema(scratch):
  config, workdir, _ = scratch
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  assert {'task', 'target', 'sources', 'protocol', 'n_folds', 'n_folds_total',
          'seed', 'class_names', 'git_commit', 'config', 'folds', 'aggregate',
          'timings', 'source_history', 'source_best'} <= set(results)
  assert (results['n_folds'], results['n_folds_total']) == (1, 2)
  assert results['config']['evolution']['generations'] == 2
  assert results['class_names'] == ['neutral', 'anger', 'happiness']
  fold = results['folds'][0]
  for level in ('segment', 'utterance'):
    scores, agg = fold[level], results['aggregate'][level]
    assert np.shape(scores['confusion']) == (3, 3)
    assert len(scores['per_class_recall']) == 3
    assert scores['ua'] == pytest.approx(np.mean(scores['per_class_recall']))
    assert agg['wa_mean'] == scores['wa'] and agg['wa_std'] == 0.0
  # Half of the 18 utterances, and all their segments, are tested.
  assert np.sum(fold['utterance']['confusion']) == 9
  assert np.sum(fold['segment']['confusion']) == fold['n_test_rows']
  assert len(fold['history']['best_fitness']) == 2
  assert np.shape(fold['best_genotype']) == (3, 4)
  assert results['timings']['total_s'] > 0
  assert len(results['git_commit']) == 40 or results['git_commit'] == 'unknown'


def test_figures_summary_and_model_are_written(scratch):
  _, workdir, results = scratch
  for name in ('confusion.png', 'fitness.png'):
    with open(os.path.join(workdir, name), 'rb') as f:
      assert f.read(4) == b'\x89PNG'
  with open(os.path.join(workdir, 'summary.md')) as f:
    assert '| utterance |' in f.read()
  with open(os.path.join(workdir, 'model', 'meta.json')) as f:
    meta = json.load(f)
  assert meta['genotype'] == results['folds'][0]['best_genotype']
  assert meta['frozen_slots'] is None


@pytest.mark.parametrize('protocol_name', ['random_kfold', 'speaker_kfold'])
def test_no_utterance_or_speaker_on_both_sides(protocol_name):
  config = tiny_config(protocol=protocol_name, n_splits=0 if protocol_name ==
                       'speaker_kfold' else 3, folds=())
  fs = data.load_corpus(config.target, config)
  folds, chosen = protocol.fold_plan(config, fs)
  assert chosen == list(range(3)) and len(folds) == 3  # 3 speakers: LOSO
  tested = np.concatenate([test for _, test in folds])
  np.testing.assert_array_equal(np.sort(tested), np.arange(len(fs)))
  for train_rows, test_rows in folds:
    assert not set(fs.utterance[train_rows]) & set(fs.utterance[test_rows])
    if protocol_name == 'speaker_kfold':
      assert not set(fs.speaker[train_rows]) & set(fs.speaker[test_rows])


def test_normalisation_uses_the_training_fold_only(scratch):
  config, workdir, _ = scratch
  fs = data.load_corpus(config.target, config)
  (train_rows, _), = [f for i, f in enumerate(protocol.fold_plan(config, fs)[0])
                      if i == 0]
  with np.load(os.path.join(workdir, 'model', 'normalizer.npz')) as z:
    mean, std = z['mean'], z['std']
  expected = normalize.fit_normalizer(fs.x[train_rows], 'pixel')
  np.testing.assert_allclose(mean, expected.mean, rtol=1e-6)
  np.testing.assert_allclose(std, expected.std, rtol=1e-6)
  assert not np.allclose(mean, normalize.fit_normalizer(fs.x, 'pixel').mean)


def test_rerun_resumes_finished_folds(scratch):
  config, workdir, results = scratch
  again = pathnet_protocol.train_and_evaluate(config, workdir)
  assert metrics.jsonable(again['folds']) == metrics.jsonable(results['folds'])


def test_workdir_of_another_config_is_refused(tmp_path):
  pathnet_protocol.claim_workdir(tiny_config(), str(tmp_path))
  pathnet_protocol.claim_workdir(tiny_config(folds=(1,)), str(tmp_path))  # more folds
  with pytest.raises(ValueError,
                     match=r'differs in: evolution.generations, seed'):
    pathnet_protocol.claim_workdir(tiny_config(seed=3, evolution=dict(generations=5)),
                        str(tmp_path))


def test_transfer_freezes_the_source_pathway(transfer):
  _, workdir, results = transfer
  source = results['source_best']
  assert np.shape(source['genotype']) == (3, 4) and source['n_rows'] > 0
  assert len(results['source_history']['best_fitness']) == 2
  assert results['n_folds_total'] == 3  # leave-one-speaker-out
  with open(os.path.join(workdir, 'model', 'meta.json')) as f:
    idx, weights = json.load(f)['frozen_slots']
  for layer, genes in enumerate(source['genotype']):
    frozen = {i for i, w in zip(idx[layer], weights[layer]) if w > 0}
    assert frozen == set(genes)


def test_multi_source_pools_the_sources(tmp_path):
  config = tiny_config(task='multi_source',
                       sources=('synthetic:sex=f', 'synthetic:sex=m'))
  results = pathnet_protocol.train_and_evaluate(config, str(tmp_path))
  female = data.load_corpus('synthetic:sex=f', config)
  assert 0 < len(female) < results['source_best']['n_rows'] == results[
      'n_rows']
  assert results['sources'] == ['synthetic:sex=f', 'synthetic:sex=m']
  assert np.isfinite(results['aggregate']['utterance']['wa_mean'])


@pytest.mark.parametrize('run', ['scratch', 'transfer'])
def test_predict_uses_the_trained_pathway(request, run, speech):
  config, workdir, results = request.getfixturevalue(run)
  model = inference.load_model(workdir)
  got = inference.predict_file(model, speech)
  assert set(got['probabilities']) == set(results['class_names'])
  # The same numbers as scoring the segments the way the test folds are.
  x = normalize.apply_normalizer(model.stats,
                                 inference.input_features(speech, model))
  lp = inference.test_log_probs(config, model.params, model.genotype,
                            model.frozen_slots, x).mean(0)
  expected = np.exp(lp) / np.exp(lp).sum()
  got = [got['probabilities'][c] for c in results['class_names']]
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_ensemble_run_scores_the_ensemble_and_its_best_alone(tmp_path,
                                                            speech):
  config = tiny_config(ensemble_size=3)
  results = pathnet_protocol.train_and_evaluate(config, str(tmp_path))
  fold = results['folds'][0]
  assert fold['ensemble_size'] == 3  # of the 4 pathways of the population
  assert {'wa', 'ua', 'n'} <= set(fold['single_best_utterance'])
  assert fold['single_best_utterance']['n'] == fold['utterance']['n']
  model = inference.load_model(str(tmp_path))
  assert model.genotype.shape[0] == 3  # [k, L, N]: predict uses all three
  np.testing.assert_array_equal(model.genotype[0], fold['best_genotype'])
  x = normalize.apply_normalizer(model.stats,
                                 inference.input_features(speech, model))
  members = [inference.test_log_probs(config, model.params, g, None, x)
             for g in model.genotype]
  mean_p = np.mean([np.exp(lp) for lp in members], axis=0)  # [n, C]
  lp = np.log(mean_p).mean(0)
  got = inference.predict_file(model, speech)['probabilities']
  np.testing.assert_allclose([got[c] for c in results['class_names']],
                             np.exp(lp) / np.exp(lp).sum(), rtol=1e-5)


def test_speaker_normalised_run_and_predict(tmp_path, speech):
  """normalize='speaker': every row standardised by its own speaker's
  statistics (the held-out speaker's too); predict uses the file's own."""
  config = tiny_config(normalize='speaker', protocol='speaker_kfold',
                       n_splits=0)
  results = pathnet_protocol.train_and_evaluate(config, str(tmp_path))
  assert np.isfinite(results['aggregate']['utterance']['ua_mean'])
  fs = data.load_corpus(config.target, config)
  with np.load(tmp_path / 'model' / 'normalizer.npz') as z:
    assert str(z['mode']) == 'speaker'
    expected = normalize.fit_normalizer(fs.x, 'speaker', speaker=fs.speaker)
    np.testing.assert_allclose(z['mean'], expected.mean)  # all 3 speakers
  model = inference.load_model(str(tmp_path))
  x = inference.input_features(speech, model)
  own = normalize.fit_normalizer(x, 'speaker', speaker=['f'] * len(x))
  lp = inference.test_log_probs(
      config, model.params, model.genotype, model.frozen_slots,
      normalize.apply_normalizer(own, x, speaker=['f'] * len(x))).mean(0)
  got = inference.predict_file(model, speech)['probabilities']
  np.testing.assert_allclose([got[c] for c in results['class_names']],
                             np.exp(lp) / np.exp(lp).sum(), rtol=1e-5)


def _cli(*args):
  """experiments.train on args, in this process (inprocess.py)."""
  return inprocess.run_binary('train', ['--nocompilation_cache', *args])


@pytest.mark.parametrize('flag, words', [
    ('--config.target=nope', "unknown corpus 'nope'"),
    ('--config.evolution.generations=0', 'generations must be >= 1, got 0'),
])
def test_cli_bad_config_is_one_error_line(tmp_path, flag, words):
  proc = _cli(f'--config={REPO}/experiments/configs/demo.py', flag,
              f'--workdir={tmp_path / "w"}')
  assert proc.returncode == 1
  assert 'Traceback' not in proc.stdout + proc.stderr
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith('error:') and words in last, proc.stderr


def test_missing_data_root_is_one_error_line(tmp_path, capsys):
  config = tiny_config(target='emodb', data_root=str(tmp_path / 'nowhere'))
  assert pathnet_protocol.run(config, str(tmp_path / 'w')) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: corpus 'emodb' not found")
  assert 'nowhere' in err[0]
  assert not os.path.exists(tmp_path / 'w')


def test_batch_larger_than_the_data_is_one_error_line_before_the_workdir(
    tmp_path, capsys):
  config = tiny_config(optim=dict(batch_size=1000))
  assert pathnet_protocol.run(config, str(tmp_path / 'run')) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert err == ['error: fold 0, seed 0: optim.batch_size must be in '
                 '[1, n_train=23], got 1000']
  # Nothing written: a corrected rerun in the same workdir is not refused.
  assert not (tmp_path / 'run').exists()


# Several seeds as one batch.

def _per_fold(results):
  return [{k: metrics.jsonable(f[k]) for k in (
      'fold', 'segment', 'utterance', 'best_genotype', 'best_fitness',
      'n_train_rows', 'n_test_rows')} | {'history': {
          k: metrics.jsonable(v) for k, v in f['history'].items()
          if k != 'seconds'}} for f in results['folds']]


def test_seeds_evolved_together_give_each_seeds_run_alone(tmp_path):
  # random_kfold: each seed has its own folds, and so its own fold sizes.
  together = pathnet_protocol.train_and_evaluate(
      tiny_config(seeds=(0, 1), folds=(), n_splits=3), str(tmp_path / 'b'))
  assert together['seeds'] == [0, 1]
  for seed in (0, 1):
    alone = pathnet_protocol.train_and_evaluate(
        tiny_config(seed=seed, folds=(), n_splits=3),
        str(tmp_path / f'alone{seed}'))
    with open(tmp_path / 'b' / f'seed_{seed}' / 'results.json') as f:
      written = json.load(f)
    assert written['seed'] == seed
    assert _per_fold(written) == _per_fold(json.loads(json.dumps(
        metrics.jsonable(alone))))
  assert (tmp_path / 'b' / 'model' / 'meta.json').exists()
  summary = (tmp_path / 'b' / 'summary.md').read_text()
  assert '| 0 |' in summary and '| 1 |' in summary and '| mean |' in summary


def test_a_run_writes_tensorboard_scalars_per_generation_and_fold(scratch):
  config, workdir, results = scratch
  scalars = tensorboard.read_scalars(tensorboard.log_dir(workdir))
  generations = int(config.evolution.generations)
  best = scalars['fold_0/evolution/best_fitness']
  assert [step for step, _ in best] == list(range(1, generations + 1))
  np.testing.assert_allclose(
      [v for _, v in best], results['folds'][0]['history']['best_fitness'])
  assert {'fold_0/evolution/pathway_steps_per_s',
          'fold_0/evolution/skipped_steps'} <= set(scalars)
  (step, ua), = scalars['fold_0/test/ua']
  assert step == generations
  assert ua == pytest.approx(results['folds'][0]['utterance']['ua'])


def test_seeds_that_are_not_integers_are_one_error_naming_the_field():
  from experiments.lib import validate  # pylint: disable=g-import-not-at-top
  config = tiny_config(seeds=('a', 'b'))
  with pytest.raises(ValueError, match='config.seeds must be non-negative'):
    validate.check_config(config)
