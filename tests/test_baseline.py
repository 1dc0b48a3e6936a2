"""Tests for the utterance-level baselines (trivial and openSMILE anchor)."""
import dataclasses

import numpy as np
import pytest

from data_prep import testing
from data_prep.store import FeatureSet
from experiments.lib import anchor
from experiments.lib import linear_models
from experiments.lib import data
from experiments.lib import protocol
from experiments.lib import splits
from experiments.configs import default
import tinyconfig


def _tiny_fs(separation, seed=0, n_speakers=6, n_classes=4, utts=3, segs=2):
  """Random segments [n, 8, 6, 3] whose mean depends on class x separation."""
  rng = np.random.default_rng(seed)
  rows = [(s, c) for s in range(n_speakers) for c in range(n_classes)
          for _ in range(utts)]
  spk, lab = (np.repeat(np.array(v), segs) for v in zip(*rows))
  bands = np.arange(8)[None, :, None, None]
  # Each class raises a different band: separable only through band means.
  x = rng.normal(size=(lab.size, 8, 6, 3)) + separation * (bands == 2 * lab[
      :, None, None, None])
  n = lab.size
  return FeatureSet(
      x=x.astype(np.float32), label=lab.astype(np.int32),
      utterance=np.repeat(np.arange(n // segs), segs).astype(np.int32),
      speaker=np.array([f's{i}' for i in spk]), corpus=np.full(n, 'tiny'),
      sex=np.full(n, ''), class_names=tuple(f'c{i}' for i in range(n_classes)),
      utterance_ids=tuple(f'u{i}' for i in range(n // segs)))


def _run(fs, folds, **kwargs):
  per_fold = anchor.run_baseline(
      anchor.logmel_table(fs), anchor.utterance_folds(fs, folds),
      len(fs.class_names), **kwargs)
  return per_fold, np.mean([f['ua'] for f in per_fold])


def test_utterance_features_pool_all_frames_of_an_utterance():
  fs = _tiny_fs(1.0)
  ids, feats = anchor.utterance_features(fs.x, fs.utterance)
  assert feats.shape == (ids.size, 8 * 3 * 2)
  frames = fs.x[fs.utterance == ids[5]]  # [segs, H, W, C]
  pooled = frames.transpose(1, 3, 0, 2).reshape(8, 3, -1)  # [H, C, frames]
  np.testing.assert_allclose(feats[5, :24], pooled.mean(-1).ravel(), rtol=1e-5)
  np.testing.assert_allclose(feats[5, 24:], pooled.std(-1).ravel(), rtol=1e-4)


def test_logmel_table_has_one_row_per_utterance_with_its_id_and_speaker():
  fs = _tiny_fs(1.0, n_speakers=2, n_classes=2, utts=1)
  table = anchor.logmel_table(fs)
  assert list(table.ids) == ['u0', 'u1', 'u2', 'u3']
  assert list(table.speaker) == ['s0', 's0', 's1', 's1']
  np.testing.assert_array_equal(table.label, [0, 1, 0, 1])


def test_utterance_folds_hold_the_utterances_of_the_segment_folds():
  fs = _tiny_fs(1.0)
  folds = splits.random_kfold(fs, n_splits=3, seed=1)
  for (tr, te), (tr_ids, te_ids) in zip(folds,
                                        anchor.utterance_folds(fs, folds)):
    ids = np.asarray(fs.utterance_ids)
    assert set(te_ids) == set(ids[fs.utterance[te]])
    assert set(tr_ids) == set(ids[fs.utterance[tr]])


@pytest.mark.parametrize('classifier', ['logreg', 'linear_svm'])
def test_baseline_beats_chance_on_separable_corpus(classifier):
  fs = _tiny_fs(separation=3.0)
  per_fold, ua = _run(fs, splits.random_kfold(fs, n_splits=3),
                      classifier=classifier)
  assert len(per_fold) == 3 and ua > 0.9  # chance = 0.25
  assert sum(f['n'] for f in per_fold) == 6 * 4 * 3  # utterances
  assert [(f['fold'], f['seed']) for f in per_fold] == [(0, 0), (1, 0), (2, 0)]


def test_baseline_is_near_chance_without_signal():
  fs = _tiny_fs(separation=0.0)
  per_fold, ua = _run(fs, splits.speaker_kfold(fs))
  assert len(per_fold) == 6 and ua < 0.6


def test_baseline_rejects_leaky_folds():
  fs = _tiny_fs(1.0)
  with pytest.raises(ValueError, match='both sides'):
    _run(fs, splits.leaky_segment_kfold(fs, n_splits=3))


def _shifted_speakers():
  """Feature 0 = class (0/1) + speaker offset 0, 5, 10, 15 + noise: across
  speakers the offset hides the class; within a speaker it is plain."""
  rng = np.random.default_rng(0)
  speaker = np.repeat(np.arange(4), 20)
  label = np.tile(np.repeat([0, 1], 10), 4)
  x = np.stack([label + 5.0 * speaker + 0.2 * rng.normal(size=80),
                rng.normal(size=80)], axis=1)
  ids = np.array([f'u{i}' for i in range(80)])
  table = anchor.UtteranceTable(ids, x, label,
                                  np.array([f's{s}' for s in speaker]))
  loso = [(ids[speaker != s], ids[speaker == s]) for s in range(4)]
  return table, loso


def test_speaker_norm_removes_speaker_offsets_across_speakers():
  table, loso = _shifted_speakers()
  plain = anchor.run_baseline(table, loso, 2, classifier='linear_svm')
  normed = anchor.run_baseline(table, loso, 2, classifier='linear_svm',
                                 speaker_norm=True)
  assert np.mean([f['ua'] for f in normed]) == 1.0
  assert np.mean([f['ua'] for f in plain]) < 0.8


def test_speaker_normalised_rows_have_zero_mean_unit_std_per_speaker():
  table, _ = _shifted_speakers()
  z = anchor.speaker_normalised(table).x
  for s in np.unique(table.speaker):
    np.testing.assert_allclose(z[table.speaker == s].mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(z[table.speaker == s].std(0), 1, atol=1e-6)


def test_classifier_defaults_and_feature_names():
  assert linear_models.make_classifier('linear_svc')[-1].C == 0.01  # former anchor
  assert linear_models.make_classifier('logreg')[-1].C == 1.0
  assert linear_models.make_classifier('linear_svc', C=0.1)[-1].C == 0.1
  with pytest.raises(ValueError, match='chosen per fold'):
    linear_models.make_classifier('linear_svm')
  assert anchor.parse_features('opensmile:eGeMAPSv02') == ('eGeMAPSv02',
                                                             'linear_svm')
  assert anchor.parse_features('logmel_stats') == (None, 'logreg')
  with pytest.raises(ValueError, match='unknown --features'):
    anchor.parse_features('opensmile:')


def test_each_table_refuses_the_other_kind_of_rows():
  segments = _tiny_fs(1.0)
  with pytest.raises(ValueError, match='one row of functionals'):
    anchor.functionals_table(segments)
  with pytest.raises(ValueError, match='needs log-mel segments'):
    anchor.logmel_table(dataclasses.replace(segments,
                                              x=segments.x.reshape(48, -1)))


def test_evaluate_scores_the_folds_experiments_train_makes():
  config = default.get_config()
  config.target = 'synthetic'
  config.update({'protocol': 'random_kfold', 'n_splits': 3, 'seed': 1})
  fs = data.load_corpus(config.target, config)
  folds, _ = protocol.fold_plan(config, fs)
  result = anchor.evaluate('synthetic', protocol='random_kfold', n_splits=3,
                             seeds=[1])
  test_utterances = [np.unique(fs.utterance[te]).size for _, te in folds]
  assert [f['n'] for f in result['per_fold']] == test_utterances
  assert result['feature_dim'] == 384 and result['classifier'] == 'logreg'


def test_evaluate_opensmile_anchor_on_a_tiny_corpus(tmp_path):
  pytest.importorskip('opensmile')
  root = tmp_path / 'emodb'
  for i, (spk, emo) in enumerate((s, e) for s in ('03', '08')
                                 for e in 'WWNN'):
    loud = 0.5 if emo == 'W' else 0.05
    testing.write_wav(root / 'wav' / f'{spk}a0{i % 4}{emo}a.wav',
                      testing.tone(0.7, 16000, 120 + 90 * (emo == 'W'),
                                   amp=loud, seed=i), 16000)
  result = anchor.evaluate(
      'emodb', 'opensmile:eGeMAPSv02', protocol='speaker_kfold',
      speaker_norm=True, data_root=str(tmp_path),
      cache_dir=str(tmp_path / 'cache'))
  assert (result['n_utterances'], result['feature_dim']) == (8, 88)
  assert result['classifier'] == 'linear_svm' and result['C'] is None
  assert [f['n'] for f in result['per_fold']] == [4, 4]  # LOSO, 2 speakers
  assert result['aggregate']['ua_mean'] == 1.0  # loud and high vs soft
  # One training speaker per fold: C is chosen on its utterances.
  assert {f['svm']['inner'] for f in result['per_fold']} == {'utterances'}
  # Leave-one-speaker-out folds need no log-mel segments: none extracted.
  assert result['fold_rows'] == 'functionals'
  assert [p.name.split('_')[1] for p in (tmp_path / 'cache').glob('*.fs')
          ] == ['eGeMAPSv02']
  kfold = anchor.evaluate(
      'emodb', 'opensmile:eGeMAPSv02', protocol='random_kfold', n_splits=2,
      data_root=str(tmp_path), cache_dir=str(tmp_path / 'cache'),
      classifier='linear_svc')
  assert kfold['fold_rows'] == 'segments' and kfold['C'] == 0.01
  assert len(list((tmp_path / 'cache').glob('emodb_audio_*.fs'))) == 1


def test_svc_on_the_gram_matrix_is_the_linear_kernel_svc():
  from sklearn import preprocessing, svm  # pylint: disable=g-import-not-at-top
  x, y = tinyconfig.blobs(n=60, num_classes=3, shape=(12,), spread=0.7)
  x = x.astype(np.float64)
  pred = linear_models.fit_predict('svc', 0.01, x[:40], y[:40], x[40:])
  scaler = preprocessing.StandardScaler().fit(x[:40])
  direct = svm.SVC(kernel='linear', C=0.01).fit(scaler.transform(x[:40]),
                                                y[:40])
  np.testing.assert_array_equal(pred, direct.predict(scaler.transform(x[40:])))
  for formulation in ('linear_svc_dual', 'linear_svc_primal'):
    assert linear_models.fit_predict(formulation, 0.01, x[:40], y[:40],
                              x[40:]).shape == (20,)


def test_inner_folds_hold_out_whole_training_speakers():
  speaker = np.repeat(np.array(['a', 'b', 'c', 'd', 'e', 'f']), 5)
  label = np.tile(np.arange(5), 6)
  folds, inner = linear_models.inner_folds(speaker, label)
  assert inner == 'speakers' and len(folds) == linear_models.INNER_FOLDS
  held = np.concatenate([te for _, te in folds])
  assert sorted(held) == list(range(30))  # every row held out once
  for tr, te in folds:
    assert not set(speaker[tr]) & set(speaker[te])


def test_select_svm_picks_the_best_inner_score_smallest_c_on_ties():
  fs = _tiny_fs(separation=2.0)
  table = anchor.logmel_table(fs)
  chosen = linear_models.select_svm(table.x, table.label, table.speaker,
                             formulations=('svc', 'linear_svc_dual'),
                             c_grid=(1e-4, 1e-2, 1.0))
  assert len(chosen['scores']) == 6 and chosen['inner'] == 'speakers'
  best = max(chosen['scores'].values())
  assert chosen['inner_ua'] == best
  first = next(k for k, v in chosen['scores'].items() if v == best)
  assert first == f"{chosen['formulation']} C={chosen['C']:g}"


def test_linear_svm_records_its_choice_per_fold_and_a_fixed_c_skips_it():
  fs = _tiny_fs(separation=3.0)
  per_fold, ua = _run(fs, splits.speaker_kfold(fs, n_splits=3),
                      classifier='linear_svm')
  assert ua > 0.9 and all(f['svm']['C'] in linear_models.C_GRID for f in per_fold)
  fixed, _ = _run(fs, splits.speaker_kfold(fs, n_splits=3),
                  classifier='linear_svm', C=0.5)
  assert [f['svm'] for f in fixed] == [{'formulation': 'svc', 'C': 0.5}] * 3
