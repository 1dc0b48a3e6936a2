r"""Utterance-level baselines: the trivial one and the openSMILE + SVM anchor.

--features picks what describes an utterance and, by default, the classifier:
  logmel_stats       the trivial baseline: mean and standard deviation over
                     frames of every mel band and channel of PathNet's own
                     segments (64 x 3 x 2 = 384) -> logistic regression (C=1).
  opensmile:<set>    the standard anchor of speech-emotion recognition:
                     openSMILE functionals of the whole file (ComParE_2016:
                     6,373; eGeMAPSv02: 88; data_prep.functionals) -> linear
                     SVM (LinearSVC, C=0.01).
Both standardise with the training fold's statistics (StandardScaler).
--speaker_norm first standardises each speaker's utterance features with
that speaker's own mean and std, labels unused: TRANSDUCTIVE for the test
speaker (its unlabelled test utterances give its statistics), common
practice in speaker-independent emotion recognition.

Folds are exactly those PathNet uses: experiments.lib.splits makes them on the
corpus's log-mel segment set (same protocol, n_splits and seed as
experiments.train), and they are carried to utterances by utterance id, so
every method is tested on the same recordings of each fold. --seeds repeats
everything with other fold (and classifier) seeds: scores are then over
folds x seeds. Any learned model that does not beat the trivial baseline is
not learning emotion; one that beats the anchor is competitive.

Usage:
  python -m experiments.baseline --corpus=emodb --features=opensmile:ComParE_2016 \
      --protocol=speaker_kfold --speaker_norm --out=runs/anchor.json
  python -m experiments.baseline --corpus=ravdess --protocol=random_kfold --seeds=0,1,2
  python -m experiments.baseline --features=features/emodb_audio.npz  # a saved segment set

--on_error=skip leaves unreadable corpus files out (listed in --out's
'skipped_files'), up to --max_skipped_fraction_files of a corpus.
"""
from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Sequence

from absl import flags
from absl import logging
import ml_collections
import numpy as np
from sklearn import linear_model
from sklearn import pipeline
from sklearn import preprocessing
from sklearn import svm

from experiments.lib import cli
from experiments.lib import data
from experiments.lib import normalize
from experiments.lib import splits
from experiments.lib import stats
from pathnet_jax import metrics

CLASSIFIERS = ('logreg', 'linear_svm')
# Each classifier's C unless --C says otherwise: scikit-learn's default for
# the trivial baseline, the customary 0.01 for the SVM on standardised
# functionals.
DEFAULT_C = {'logreg': 1.0, 'linear_svm': 0.01}
LOGMEL_STATS = 'logmel_stats'
OPENSMILE_PREFIX = 'opensmile:'


@dataclasses.dataclass(frozen=True)
class UtteranceTable:
  """One row per utterance: ids [u] str (e.g. 'wav/03a01Fa.wav'), x [u, D],
  label [u] int, speaker [u] str."""
  ids: np.ndarray
  x: np.ndarray
  label: np.ndarray
  speaker: np.ndarray


def utterance_features(x, utterance) -> tuple[np.ndarray, np.ndarray]:
  """Mean and std over frames per utterance, band and channel.

  The utterance is rebuilt by pooling every frame of all its segments; frames
  in the overlap of two segments are counted twice (and padding frames of a
  short utterance count too), a small bias shared by all classes.

  Args:
    x: [n, H, W, C] segments (H = mel bands, W = frames, C = static/Δ/ΔΔ).
    utterance: [n] int utterance index per segment.

  Returns:
    (utt_ids [u] sorted unique utterance indices, features [u, 2*H*C]: the
    H*C means followed by the H*C standard deviations).
  """
  x = np.asarray(x)
  utt_ids, inverse = np.unique(np.asarray(utterance), return_inverse=True)
  n, h, w, c = x.shape
  # Per-segment frame sums, then per-utterance sums: one pass, float64.
  s1 = np.zeros((utt_ids.size, h, c))
  s2 = np.zeros((utt_ids.size, h, c))
  np.add.at(s1, inverse, x.sum(axis=2, dtype=np.float64))
  np.add.at(s2, inverse, np.square(x, dtype=np.float64).sum(axis=2))
  frames = (np.bincount(inverse, minlength=utt_ids.size) * w)[:, None, None]
  mean = s1 / frames
  std = np.sqrt(np.maximum(s2 / frames - mean**2, 0.0))
  return utt_ids, np.concatenate(
      [mean.reshape(-1, h * c), std.reshape(-1, h * c)], axis=1)


def logmel_table(fs) -> UtteranceTable:
  """The trivial baseline's rows: `utterance_features` of a segment set."""
  if np.asarray(fs.x).ndim != 4:
    raise ValueError(f'{LOGMEL_STATS} needs log-mel segments [n, H, W, C], got '
                     f'rows of shape {fs.x.shape[1:]}')
  utt_ids, feats = utterance_features(fs.x, fs.utterance)
  _, first = np.unique(np.asarray(fs.utterance), return_index=True)
  _, label = metrics.utterance_labels(fs.label, fs.utterance)
  return UtteranceTable(np.asarray(fs.utterance_ids)[utt_ids], feats, label,
                        np.asarray(fs.speaker)[first].astype(str))


def functionals_table(fs) -> UtteranceTable:
  """Rows of a set that already holds one row per utterance ([u, D])."""
  if np.asarray(fs.x).ndim != 2:
    raise ValueError(f'expected one row of functionals per utterance, got '
                     f'rows of shape {fs.x.shape[1:]}')
  return UtteranceTable(np.asarray(fs.utterance_ids)[fs.utterance],
                        np.asarray(fs.x, np.float64), np.asarray(fs.label),
                        np.asarray(fs.speaker).astype(str))


def utterance_folds(fs, folds: Sequence[splits.Fold]
                    ) -> list[tuple[np.ndarray, np.ndarray]]:
  """Segment-row folds of `fs` as (train ids, test ids) of its utterances."""
  ids = np.asarray(fs.utterance_ids)
  return [(np.unique(ids[fs.utterance[tr]]), np.unique(ids[fs.utterance[te]]))
          for tr, te in folds]


def speaker_normalised(table: UtteranceTable) -> UtteranceTable:
  """Each speaker's rows standardised by that speaker's own statistics."""
  fitted = normalize.fit_normalizer(table.x, 'speaker', speaker=table.speaker)
  return dataclasses.replace(table, x=normalize.apply_normalizer(
      fitted, table.x, speaker=table.speaker))


def make_classifier(classifier: str = 'logreg', C: float | None = None,
                    seed: int = 0):
  """StandardScaler + LogisticRegression or LinearSVC (C: DEFAULT_C)."""
  if classifier not in CLASSIFIERS:
    raise ValueError(f'unknown classifier {classifier!r}; valid: '
                     f'{", ".join(CLASSIFIERS)}')
  C = DEFAULT_C[classifier] if C is None else float(C)
  if classifier == 'logreg':
    model = linear_model.LogisticRegression(C=C, max_iter=5000,
                                            random_state=seed)
  else:
    model = svm.LinearSVC(C=C, max_iter=20000, random_state=seed)
  return pipeline.make_pipeline(preprocessing.StandardScaler(), model)


def run_baseline(table: UtteranceTable, folds, num_classes: int, *,
                 classifier: str = 'logreg', C: float | None = None,
                 speaker_norm: bool = False, seed: int = 0
                 ) -> list[dict[str, Any]]:
  """Fits and scores a classifier on every fold.

  Args:
    table: the utterances.
    folds: (train ids, test ids) per fold (`utterance_folds`).
    num_classes: size of the label space.
    classifier, C, seed: see `make_classifier`.
    speaker_norm: standardise each speaker by itself first (transductive).

  Returns:
    one `metrics.segment_scores` dict per fold (over utterances), with
    'fold', 'seed' and 'n_train' (utterances) added.
  """
  if speaker_norm:
    table = speaker_normalised(table)
  per_fold = []
  for i, (train_ids, test_ids) in enumerate(folds):
    if np.intersect1d(train_ids, test_ids).size:
      raise ValueError('a fold has utterances on both sides; use a grouped '
                       'protocol')
    train, test = np.isin(table.ids, train_ids), np.isin(table.ids, test_ids)
    if train.sum() != len(train_ids) or test.sum() != len(test_ids):
      raise ValueError('the features lack utterances of the folds (were '
                       'files skipped in one extraction?)')
    clf = make_classifier(classifier, C, seed).fit(table.x[train],
                                                   table.label[train])
    scores = metrics.segment_scores(table.label[test],
                                    clf.predict(table.x[test]), num_classes)
    per_fold.append({**scores, 'fold': i, 'seed': seed,
                     'n_train': int(train.sum())})
  return per_fold


def parse_features(features: str) -> tuple[str | None, str]:
  """'opensmile:eGeMAPSv02' -> ('eGeMAPSv02', 'linear_svm');
  'logmel_stats' -> (None, 'logreg') (the default classifier of each)."""
  if features == LOGMEL_STATS:
    return None, 'logreg'
  if features.startswith(OPENSMILE_PREFIX) and features[len(OPENSMILE_PREFIX):]:
    return features[len(OPENSMILE_PREFIX):], 'linear_svm'
  raise ValueError(f'unknown --features {features!r}; use {LOGMEL_STATS} or '
                   f'{OPENSMILE_PREFIX}<openSMILE feature set>')


def evaluate(corpus: str, features: str = LOGMEL_STATS, *,
             protocol: str = 'random_kfold', n_splits: int | None = None,
             seeds: Sequence[int] = (0,), classifier: str | None = None,
             C: float | None = None, speaker_norm: bool = False,
             data_root: str = '../shared/data', cache_dir: str = 'features',
             on_error: str = data.DEFAULT_ON_ERROR,
             max_skipped_fraction_files: float = data.DEFAULT_MAX_SKIPPED_FRACTION
             ) -> dict[str, Any]:
  """A baseline on a corpus spec (experiments.lib.data), on PathNet's folds.

  on_error, max_skipped_fraction_files: what an unreadable corpus file does
  (experiments/lib/data.py).

  Returns:
    the run's settings, 'per_fold' (folds x seeds), 'aggregate'
    (`metrics.aggregate_folds` over all of them), 'n_utterances' and
    'skipped_files' (of the segment and, for openSMILE, functionals sets).
  """
  feature_set, default_classifier = parse_features(features)
  config = ml_collections.ConfigDict({
      'data_root': data_root, 'cache_dir': cache_dir, 'modality': 'audio',
      'data_seed': int(seeds[0]), 'on_error': on_error,
      'max_skipped_fraction_files': float(max_skipped_fraction_files)})
  segments = data.load_corpus(corpus, config)  # the rows PathNet's folds split
  skipped = data.skipped_files(segments)
  if feature_set is None:
    table, class_names = logmel_table(segments), segments.class_names
  else:
    config.feature_params = {'functionals': feature_set}
    fs = data.load_corpus(corpus, config)
    if fs.class_names != segments.class_names:
      raise ValueError(f'class names differ: {fs.class_names} (functionals) '
                       f'vs {segments.class_names} (segments)')
    table, class_names = functionals_table(fs), fs.class_names
    skipped += [s for s in data.skipped_files(fs) if s not in skipped]
  classifier = classifier or default_classifier
  per_fold = []
  for seed in seeds:
    folds = splits.make_folds(protocol, segments, n_splits, int(seed))
    per_fold += run_baseline(table, utterance_folds(segments, folds),
                             len(class_names), classifier=classifier, C=C,
                             speaker_norm=speaker_norm, seed=int(seed))
  return {
      'corpus': corpus, 'features': features, 'feature_dim': table.x.shape[1],
      'classifier': classifier,
      'C': DEFAULT_C[classifier] if C is None else C,
      'speaker_norm': speaker_norm, 'protocol': protocol,
      'n_splits': n_splits, 'seeds': [int(s) for s in seeds],
      'class_names': list(class_names), 'level': 'utterance',
      'n_utterances': int(table.ids.size), 'skipped_files': skipped,
      'per_fold': per_fold,
      'aggregate': metrics.aggregate_folds(per_fold)}


def summary_line(result: dict[str, Any]) -> str:
  """'WA m ± s  UA m ± s  (k folds x s seeds)' over folds x seeds."""
  wa = stats.mean_std([f['wa'] for f in result['per_fold']])
  ua = stats.mean_std([f['ua'] for f in result['per_fold']])
  n_seeds = len(result['seeds'])
  return (f"WA {wa['mean']:.3f} ± {wa['std']:.3f}  UA {ua['mean']:.3f} ± "
          f"{ua['std']:.3f}  ({wa['n'] // n_seeds} folds x {n_seeds} seeds)")


def define_flags() -> None:
  """Flags exist only when run as a binary, so tests can import this module
  beside other binaries that define --out or --features."""
  flags.DEFINE_string(
      'corpus', 'synthetic', 'Corpus spec as in configs (emodb, ravdess, '
      'emodb:sex=f, synthetic) or a segment FeatureSet .npz.')
  flags.DEFINE_string(
      'features', LOGMEL_STATS, f'{LOGMEL_STATS} (the trivial baseline) or '
      f'{OPENSMILE_PREFIX}ComParE_2016 / {OPENSMILE_PREFIX}eGeMAPSv02 (the '
      'anchor). A .npz path here means --corpus=PATH with logmel_stats.')
  flags.DEFINE_enum('classifier', None, list(CLASSIFIERS), 'Default: logreg '
                    'for logmel_stats, linear_svm for openSMILE features.')
  flags.DEFINE_float('C', None, 'Regularisation; default 1 (logreg) or 0.01 '
                     '(linear_svm).')
  flags.DEFINE_bool('speaker_norm', False, 'Standardise each speaker by its '
                    'own statistics first (transductive for test speakers).')
  flags.DEFINE_enum('protocol', 'random_kfold', sorted(splits.PROTOCOLS),
                    'Fold protocol.')
  flags.DEFINE_integer(
      'n_splits', None, 'Folds; default (or 0) 5 for k-fold, '
      'leave-one-speaker-out for speaker_kfold.')
  flags.DEFINE_list('seeds', ['0'], 'Fold and classifier seeds.')
  flags.DEFINE_string('data_root', '../shared/data', 'Folder of the corpora.')
  flags.DEFINE_string('cache_dir', 'features', 'Feature cache.')
  flags.DEFINE_enum('on_error', data.DEFAULT_ON_ERROR, list(data.ON_ERROR),
                    'An unreadable corpus file: raise (stop naming it) or '
                    'skip (leave it out, listed in --out).')
  flags.DEFINE_float('max_skipped_fraction_files',
                     data.DEFAULT_MAX_SKIPPED_FRACTION,
                     'With --on_error=skip: stop when more than this share '
                     "of a corpus's files is skipped.", lower_bound=0,
                     upper_bound=1)
  flags.DEFINE_string('out', None, 'Where to write results JSON.')


def main(argv: Sequence[str]) -> None:
  del argv
  f = flags.FLAGS
  corpus, features = f.corpus, f.features
  if features.endswith('.npz'):  # the trivial baseline's original form
    corpus, features = features, LOGMEL_STATS
  start = time.perf_counter()
  try:
    result = evaluate(corpus, features, protocol=f.protocol,
                      n_splits=f.n_splits or None,
                      seeds=[int(s) for s in f.seeds],
                      classifier=f.classifier, C=f.C,
                      speaker_norm=f.speaker_norm, data_root=f.data_root,
                      cache_dir=f.cache_dir, on_error=f.on_error,
                      max_skipped_fraction_files=f.max_skipped_fraction_files)
  except ValueError as e:  # name the settings as this binary's flags
    raise ValueError(data.as_flags(str(e))) from e
  result['seconds'] = time.perf_counter() - start
  line = summary_line(result)
  logging.info('%s %s%s %s: %s', corpus, features,
               ' speaker-normalised' if f.speaker_norm else '', f.protocol,
               line)
  if result['skipped_files']:
    line += f"  ({len(result['skipped_files'])} unreadable files skipped)"
  print(f'{line}  {result["seconds"]:.1f} s')
  if f.out:
    with open(f.out, 'w') as fh:
      json.dump(metrics.jsonable(result), fh, indent=1)


if __name__ == '__main__':
  define_flags()
  cli.run(main)
