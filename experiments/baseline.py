r"""Utterance-level baselines: the trivial one and the openSMILE + SVM anchor.

--features picks what describes an utterance and, by default, the classifier:
  logmel_stats       mean and std over frames of PathNet's own log-mel
                     segments (384) -> logistic regression (C=1).
  opensmile:<set>    openSMILE functionals of the whole file (ComParE_2016:
                     6,373; eGeMAPSv02: 88) -> linear SVM, formulation and C
                     chosen per fold on held-out training speakers
                     (--formulations; --C fixes C instead).
--speaker_norm first standardises each speaker by its own statistics
(transductive for the test speaker). Folds are PathNet's (same protocol,
n_splits and seeds as experiments.train). The logic, and what each choice
means, is in experiments/lib/anchor.py.

Usage:
  python -m experiments.baseline --corpus=emodb --features=opensmile:ComParE_2016 \
      --protocol=speaker_kfold --speaker_norm --out=runs/anchor.json
  python -m experiments.baseline --corpus=ravdess --protocol=random_kfold --seeds=0,1,2
  python -m experiments.baseline --features=features/emodb_audio.npz  # a saved segment set

--on_error=skip leaves unreadable corpus files out (listed in --out's
'skipped_files'), up to --max_skipped_fraction_files of a corpus.
"""

from __future__ import annotations

import os
import time
from typing import Sequence

from absl import flags
from absl import logging

from experiments.lib import anchor
from experiments.lib import linear_models
from experiments.lib import cli
from experiments.lib import data
from experiments.lib import outputs
from experiments.lib import splits


def define_flags() -> None:
  """Flags exist only when run as a binary, so tests can import this module
  beside other binaries that define --out or --features."""
  flags.DEFINE_string(
      'corpus', 'synthetic', 'Corpus spec as in configs (emodb, ravdess, '
      'emodb:sex=f, synthetic) or a segment FeatureSet (.npz or .fs).')
  flags.DEFINE_string(
      'features', anchor.LOGMEL_STATS, f'{anchor.LOGMEL_STATS} (the trivial '
      f'baseline) or {anchor.OPENSMILE_PREFIX}ComParE_2016 / '
      f'{anchor.OPENSMILE_PREFIX}eGeMAPSv02 (the anchor). A .npz path here '
      'means --corpus=PATH with logmel_stats.')
  flags.DEFINE_enum('classifier', None, list(linear_models.CLASSIFIERS),
                    'Default: logreg for logmel_stats, linear_svm (chosen on '
                    'training speakers) for openSMILE features; linear_svc '
                    'is the former anchor (LinearSVC, C=0.01).')
  flags.DEFINE_float('C', None, 'Regularisation; default 1 (logreg), 0.01 '
                     '(linear_svc), chosen per fold (linear_svm).')
  flags.DEFINE_list('formulations', ['svc'], 'linear_svm: the SVM '
                    'formulations it chooses among (' +
                    ', '.join(linear_models.FORMULATIONS) + ').')
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
  flags.DEFINE_string('out', None, 'Where to write results JSON (its folder '
                      'is made before the work starts).')
  flags.DEFINE_float('train_fraction', 1.0, 'Keep this share of each '
                     "training fold's utterances: the rows PathNet's "
                     'config.train_fraction keeps (learning curves).')


def main(argv: Sequence[str]) -> None:
  del argv
  f = flags.FLAGS
  corpus, features = f.corpus, f.features
  if data.is_feature_file(features):  # the trivial baseline's original form
    corpus, features = features, anchor.LOGMEL_STATS
  if not 0 < f.train_fraction <= 1:
    raise ValueError('--train_fraction must be in (0, 1], got '
                     f'{f.train_fraction}')
  if f.out:  # an unwritable --out fails now, not after the work
    os.makedirs(os.path.dirname(os.path.abspath(f.out)), exist_ok=True)
  start = time.perf_counter()
  try:
    result = anchor.evaluate(
        corpus, features, protocol=f.protocol, n_splits=f.n_splits or None,
        seeds=[int(s) for s in f.seeds], classifier=f.classifier, C=f.C,
        speaker_norm=f.speaker_norm, formulations=f.formulations,
        data_root=f.data_root, cache_dir=f.cache_dir, on_error=f.on_error,
        max_skipped_fraction_files=f.max_skipped_fraction_files,
        train_fraction=f.train_fraction)
  except ValueError as e:  # name the settings as this binary's flags
    raise ValueError(data.as_flags(str(e))) from e
  result['seconds'] = time.perf_counter() - start
  line = anchor.summary_line(result)
  logging.info('%s %s%s %s: %s', corpus, features,
               ' speaker-normalised' if f.speaker_norm else '', f.protocol,
               line)
  if result['skipped_files']:
    line += f"  ({len(result['skipped_files'])} unreadable files skipped)"
  print(f'{line}  {result["seconds"]:.1f} s')
  if f.out:
    outputs.write_json(f.out, result)


if __name__ == '__main__':
  define_flags()
  cli.run(main)
