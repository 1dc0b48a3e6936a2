r"""Trivial baseline: utterance statistics + logistic regression.

Per utterance, the mean and standard deviation over frames of every mel band
and channel (static, delta, delta-delta): 64 x 3 x 2 = 384 features. A
scikit-learn StandardScaler + LogisticRegression is fitted on the training
fold's utterances and scored on the test fold's utterances (WA / UA).

Any learned model that does not beat this is not learning emotion.

Usage:
  python -m experiments.baseline --features=features/emodb_audio.npz \
      --protocol=random_kfold --out=results.json
  python -m experiments.baseline --corpus=emodb --data_root=../shared/data
  python -m experiments.baseline --corpus=manifest:my_corpus.csv
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Sequence

from absl import app
from absl import flags
from absl import logging
import ml_collections
import numpy as np
from sklearn import linear_model
from sklearn import pipeline
from sklearn import preprocessing

from experiments import splits
from pathnet_jax import metrics


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


def make_classifier(seed: int = 0, max_iter: int = 5000):
  """StandardScaler + multinomial LogisticRegression (default C=1)."""
  return pipeline.make_pipeline(
      preprocessing.StandardScaler(),
      linear_model.LogisticRegression(max_iter=max_iter, random_state=seed))


def run_baseline(fs, folds: Sequence[splits.Fold], seed: int = 0
                 ) -> dict[str, Any]:
  """Fits and scores the baseline on every fold.

  Args:
    fs: FeatureSet (x, label, utterance, class_names are used).
    folds: (train_rows, test_rows) segment-row folds that keep utterances
      whole (see experiments.splits).
    seed: classifier seed.

  Returns:
    dict with 'per_fold' (utterance-level `metrics.segment_scores` dicts, plus
    'n_train' utterances) and 'aggregate' (`metrics.aggregate_folds`).
  """
  num_classes = len(fs.class_names)
  utt_ids, feats = utterance_features(fs.x, fs.utterance)
  _, utt_label = metrics.utterance_labels(fs.label, fs.utterance)
  per_fold = []
  for train_rows, test_rows in folds:
    train = np.isin(utt_ids, fs.utterance[train_rows])
    test = np.isin(utt_ids, fs.utterance[test_rows])
    if np.any(train & test):
      raise ValueError('a fold has utterances on both sides; use a grouped '
                       'protocol')
    clf = make_classifier(seed).fit(feats[train], utt_label[train])
    scores = metrics.segment_scores(utt_label[test], clf.predict(feats[test]),
                                    num_classes)
    scores['n_train'] = int(train.sum())
    per_fold.append(scores)
  return {'per_fold': per_fold, 'aggregate': metrics.aggregate_folds(per_fold)}


def define_flags() -> None:
  """Flags exist only when run as a binary, so tests can import this module
  beside other binaries that define --out or --features."""
  flags.DEFINE_string(
      'features', None, 'FeatureSet .npz (data_prep.store.load); default: the '
      'built-in synthetic corpus.')
  flags.DEFINE_string(
      'corpus', None, 'Instead of --features: a corpus spec as experiments.'
      "train reads it ('emodb', 'emodb:sex=f', 'manifest:PATH.csv', 'a+b').")
  flags.DEFINE_string('data_root', os.path.join('..', 'shared', 'data'),
                      'With --corpus: folder holding the corpora.')
  flags.DEFINE_string('cache_dir', 'features', 'With --corpus: feature cache.')
  flags.DEFINE_enum('modality', 'audio', ['audio', 'video', 'image'],
                    'With --corpus: which features.')
  flags.DEFINE_enum('protocol', 'random_kfold', sorted(splits.PROTOCOLS),
                    'Fold protocol.')
  flags.DEFINE_integer(
      'n_splits', None, 'Folds; default 5 (k-fold) or leave-one-speaker-out.')
  flags.DEFINE_integer('seed', 0, 'Fold and classifier seed.')
  flags.DEFINE_string('out', None, 'Where to write results JSON.')


def main(argv: Sequence[str]) -> None:
  del argv
  f = flags.FLAGS
  features, protocol, n_splits, seed, out_path = (
      f.features, f.protocol, f.n_splits, f.seed, f.out)
  if f.corpus:
    from experiments import data  # pylint: disable=g-import-not-at-top
    config = ml_collections.ConfigDict(dict(
        data_root=f.data_root, cache_dir=f.cache_dir, modality=f.modality))
    try:
      fs = data.load_corpus(f.corpus, config)
    except (ValueError, FileNotFoundError) as e:
      sys.exit(f'error: {e}')
    features = f.corpus
  elif features:
    from data_prep import store  # pylint: disable=g-import-not-at-top
    fs = store.load(features)
  else:
    from data_prep import synthetic  # pylint: disable=g-import-not-at-top
    fs = synthetic.make_corpus(seed=seed)
  start = time.perf_counter()
  folds = splits.make_folds(protocol, fs, n_splits, seed)
  result = run_baseline(fs, folds, seed=seed)
  agg = result['aggregate']
  logging.info('%s %s, %d folds: utterance WA %.3f ± %.3f, UA %.3f ± %.3f',
               features or 'synthetic', protocol, len(folds),
               agg['wa_mean'], agg['wa_std'], agg['ua_mean'], agg['ua_std'])
  print(f"WA {agg['wa_mean']:.3f} ± {agg['wa_std']:.3f}  "
        f"UA {agg['ua_mean']:.3f} ± {agg['ua_std']:.3f}  ({len(folds)} folds)")
  if out_path:
    out = {
        'features': features or 'synthetic',
        'protocol': protocol, 'n_splits': n_splits,
        'seed': seed, 'class_names': list(fs.class_names),
        'level': 'utterance', 'seconds': time.perf_counter() - start,
        **result,
    }
    with open(out_path, 'w') as fh:
      json.dump(metrics.jsonable(out), fh, indent=1)


if __name__ == '__main__':
  define_flags()
  app.run(main)
