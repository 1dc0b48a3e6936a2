"""Utterance-level baselines: the trivial one and the openSMILE + SVM anchor.

  logmel_stats       the trivial baseline: mean and standard deviation over
                     frames of every mel band and channel of PathNet's own
                     segments (64 x 3 x 2 = 384) -> logistic regression (C=1).
  opensmile:<set>    the standard anchor of speech-emotion recognition:
                     openSMILE functionals of the whole file (ComParE_2016:
                     6,373; eGeMAPSv02: 88; data_prep.functionals) -> a
                     linear SVM whose formulation and C are chosen per fold on
                     the training speakers only (`linear_models.select_svm`).
Both standardise with the training fold's statistics (StandardScaler).
speaker_norm first standardises each speaker's utterance features by that
speaker's own mean and std, labels unused: TRANSDUCTIVE for the test speaker
(its unlabelled test utterances give its statistics), common practice.

The linear SVM. Three formulations fit the same model family and score
differently (one-vs-one vs one-vs-rest, hinge vs squared hinge): 'svc'
(libsvm SVC with a linear kernel, fitted here on the precomputed Gram
matrix: the same model as SVC(kernel='linear')), 'linear_svc_dual' and
'linear_svc_primal' (liblinear LinearSVC). Issue 27 measured one 1,380 x
6,373 fold: SVC(kernel='linear') 6.7 s, LinearSVC dual 58 s, primal 192 s.
Formulation and C are picked as PathNet's variants are: on held-out
TRAINING speakers (`linear_models.inner_folds`), never on the test fold.
By default only 'svc' competes (over linear_models.C_GRID); `formulations`
adds the others. The former anchor (LinearSVC, dual, C=0.01) is classifier
'linear_svc'.

Folds are exactly those PathNet uses (experiments.lib.splits, same
protocol, n_splits and seed as experiments.train), carried to utterances by
utterance id. Leave-one-speaker-out folds depend on speakers only, so the
anchor makes them from its own functionals; every other protocol's folds
depend on the segment counts, and the log-mel segment set is read for them.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import ml_collections
import numpy as np

from experiments.configs import default as default_config
from experiments.lib import data
from experiments.lib import linear_models
from experiments.lib import normalize
from experiments.lib import splits
from experiments.lib import stats
from pathnet_jax import metrics

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


def run_baseline(table: UtteranceTable, folds, num_classes: int, *,
                 classifier: str = 'logreg', C: float | None = None,
                 speaker_norm: bool = False, seed: int = 0,
                 formulations: Sequence[str] = ('svc',)
                 ) -> list[dict[str, Any]]:
  """Fits and scores a classifier on every fold.

  Args:
    table: the utterances.
    folds: (train ids, test ids) per fold (`utterance_folds`).
    num_classes: size of the label space.
    classifier, C, seed: see `linear_models.make_classifier`; 'linear_svm'
      with C None chooses formulation and C per fold
      (`linear_models.select_svm`), with a C given
      fits formulations[0] at that C.
    speaker_norm: standardise each speaker by itself first (transductive).
    formulations: the SVM formulations 'linear_svm' chooses among.

  Returns:
    one `metrics.segment_scores` dict per fold (over utterances), with
    'fold', 'seed' and 'n_train' (utterances) added, and for 'linear_svm'
    'svm' (the `linear_models.select_svm` record, or the fixed formulation
    and C).
  """
  if classifier not in linear_models.CLASSIFIERS:
    raise ValueError(f'unknown classifier {classifier!r}; valid: '
                     f'{", ".join(linear_models.CLASSIFIERS)}')
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
    x_tr, y_tr = table.x[train], table.label[train]
    extra = {}
    if classifier == 'linear_svm':
      chosen = (linear_models.select_svm(
          x_tr, y_tr, table.speaker[train], formulations, seed=seed)
                if C is None else
                {'formulation': formulations[0], 'C': float(C)})
      pred = linear_models.fit_predict(chosen['formulation'], chosen['C'],
                                       x_tr, y_tr, table.x[test], seed)
      extra['svm'] = chosen
    else:
      pred = linear_models.make_classifier(classifier, C, seed).fit(
          x_tr, y_tr).predict(table.x[test])
    scores = metrics.segment_scores(table.label[test], pred, num_classes)
    per_fold.append({**scores, 'fold': i, 'seed': seed,
                     'n_train': int(train.sum()), **extra})
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


def speaker_folds_only(protocol: str, n_splits: int | None,
                       n_speakers: int) -> bool:
  """Whether the protocol's folds depend on the speakers alone
  (leave-one-speaker-out), so any row table of the corpus makes them."""
  return protocol == 'speaker_kfold' and (n_splits is None or
                                          n_splits >= n_speakers)


def evaluate(corpus: str, features: str = LOGMEL_STATS, *,
             protocol: str = 'random_kfold', n_splits: int | None = None,
             seeds: Sequence[int] = (0,), classifier: str | None = None,
             C: float | None = None, speaker_norm: bool = False,
             formulations: Sequence[str] = ('svc',),
             data_root: str = '../shared/data', cache_dir: str = 'features',
             on_error: str = data.DEFAULT_ON_ERROR,
             max_skipped_fraction_files: float = (
                 data.DEFAULT_MAX_SKIPPED_FRACTION),
             train_fraction: float = 1.0) -> dict[str, Any]:
  """A baseline on a corpus spec (experiments.lib.data), on PathNet's folds.

  Reads the log-mel segments only when they are the features or when the
  protocol's folds need their row counts (not for leave-one-speaker-out).
  on_error, max_skipped_fraction_files: what an unreadable corpus file does
  (experiments/lib/data.py). train_fraction: keep this share of each
  training fold's utterances, the rows PathNet's config.train_fraction keeps
  (the same stratified draw on the segment rows, seeded by seed + fold), so
  a learning-curve point compares on the same labelled rows; C is chosen
  inside them.

  Returns:
    the run's settings, 'per_fold' (folds x seeds), 'aggregate'
    (`metrics.aggregate_folds` over all of them), 'n_utterances',
    'skipped_files' (of every set read) and 'fold_rows' ('segments' or
    'functionals': the set the folds were made on).
  """
  feature_set, default_classifier = parse_features(features)
  classifier = classifier or default_classifier
  bad = set(formulations) - set(linear_models.FORMULATIONS)
  if bad or not formulations:
    raise ValueError(f'unknown SVM formulation(s) {sorted(bad)}; valid: '
                     f'{", ".join(linear_models.FORMULATIONS)}')
  config = ml_collections.ConfigDict({
      'data_root': data_root, 'cache_dir': cache_dir, 'modality': 'audio',
      'data_seed': int(seeds[0]), 'on_error': on_error,
      'max_skipped_fraction_files': float(max_skipped_fraction_files),
      'faces': default_config.get_config().faces})  # audio: never used
  segments, skipped = None, []
  if feature_set is None:
    segments = data.load_corpus(corpus, config)
    table, class_names, rows = logmel_table(segments), segments.class_names, (
        segments)
  else:
    config.feature_params = {'functionals': feature_set}
    rows = data.load_corpus(corpus, config)
    table, class_names = functionals_table(rows), rows.class_names
    skipped = data.skipped_files(rows)
    n_speakers = np.unique(np.asarray(rows.speaker)).size
    if (not speaker_folds_only(protocol, n_splits, n_speakers) or
        float(train_fraction) < 1):  # the fraction is drawn on segments
      del config['feature_params']  # the rows PathNet's folds split
      segments = data.load_corpus(corpus, config)
      if rows.class_names != segments.class_names:
        raise ValueError(f'class names differ: {rows.class_names} '
                         f'(functionals) vs {segments.class_names} (segments)')
      rows = segments
  if segments is not None:  # each file once, the segments' list first
    seg_skipped = data.skipped_files(segments)
    skipped = seg_skipped + [s for s in skipped if s not in seg_skipped]
  per_fold = []
  for seed in seeds:
    folds = splits.make_folds(protocol, rows, n_splits, int(seed))
    if float(train_fraction) < 1:
      folds = [(splits.subsample_utterances(tr, rows.utterance, rows.label,
                                            float(train_fraction),
                                            int(seed) + i), te)
               for i, (tr, te) in enumerate(folds)]
    per_fold += run_baseline(table, utterance_folds(rows, folds),
                             len(class_names), classifier=classifier, C=C,
                             speaker_norm=speaker_norm, seed=int(seed),
                             formulations=formulations)
  return {
      'corpus': corpus, 'features': features, 'feature_dim': table.x.shape[1],
      'classifier': classifier,
      'C': linear_models.DEFAULT_C[classifier] if C is None else C,
      'formulations': list(formulations) if classifier == 'linear_svm'
                      else None,
      'speaker_norm': speaker_norm, 'protocol': protocol,
      'n_splits': n_splits, 'seeds': [int(s) for s in seeds],
      'train_fraction': float(train_fraction),
      'class_names': list(class_names), 'level': 'utterance',
      'fold_rows': 'segments' if rows is segments else 'functionals',
      'n_utterances': int(table.ids.size), 'skipped_files': skipped,
      'per_fold': per_fold,
      'aggregate': metrics.aggregate_folds(per_fold)}


def summary_line(result: dict[str, Any]) -> str:
  """'WA m ± s  UA m ± s  (k folds x s seeds)' over folds x seeds, and the
  SVM choices of a 'linear_svm' run ('svc C=0.001 x7, ...')."""
  wa = stats.mean_std([f['wa'] for f in result['per_fold']])
  ua = stats.mean_std([f['ua'] for f in result['per_fold']])
  n_seeds = len(result['seeds'])
  line = (f"WA {wa['mean']:.3f} ± {wa['std']:.3f}  UA {ua['mean']:.3f} ± "
          f"{ua['std']:.3f}  ({wa['n'] // n_seeds} folds x {n_seeds} seeds)")
  chosen = [f"{f['svm']['formulation']} C={f['svm']['C']:g}"
            for f in result['per_fold'] if 'svm' in f]
  if chosen:
    names, counts = np.unique(chosen, return_counts=True)
    line += '  [' + ', '.join(f'{n} x{c}' for n, c in zip(names, counts)) + ']'
  return line
