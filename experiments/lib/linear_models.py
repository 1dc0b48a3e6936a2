"""The linear classifiers of the openSMILE anchor (experiments/lib/anchor.py):
the SVM formulations, its C grid, and the choice of both on held-out
training speakers, as PathNet's variants are chosen."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn import linear_model
from sklearn import metrics as sk_metrics
from sklearn import model_selection as ms
from sklearn import pipeline
from sklearn import preprocessing
from sklearn import svm

from experiments.lib import splits

# 'linear_svm': the anchor, formulation and C chosen on training speakers;
# 'linear_svc': the former anchor (LinearSVC, dual, C fixed).
CLASSIFIERS = ('logreg', 'linear_svm', 'linear_svc')
# Each classifier's C unless C is given: scikit-learn's default for the
# trivial baseline, the customary 0.01 for LinearSVC on standardised
# functionals; None = chosen on the training speakers.
DEFAULT_C = {'logreg': 1.0, 'linear_svm': None, 'linear_svc': 0.01}
FORMULATIONS = ('svc', 'linear_svc_dual', 'linear_svc_primal')
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
INNER_FOLDS = 4  # speaker groups of a training fold for the selection


def make_classifier(classifier: str = 'logreg', C: float | None = None,
                    seed: int = 0):
  """StandardScaler + LogisticRegression ('logreg') or LinearSVC, dual
  ('linear_svc'); C: DEFAULT_C. The anchor 'linear_svm' is `fit_predict`."""
  if classifier not in ('logreg', 'linear_svc'):
    raise ValueError(f'unknown classifier {classifier!r}; valid: logreg, '
                     'linear_svc (linear_svm is chosen per fold)')
  C = DEFAULT_C[classifier] if C is None else float(C)
  if classifier == 'logreg':
    model = linear_model.LogisticRegression(C=C, max_iter=5000,
                                            random_state=seed)
  else:
    model = svm.LinearSVC(C=C, max_iter=20000, random_state=seed)
  return pipeline.make_pipeline(preprocessing.StandardScaler(), model)


def fit_predict(formulation: str, C: float, x_train, y_train, x_test,
                seed: int = 0) -> np.ndarray:
  """Labels [t] of x_test [t, D] by a linear SVM fitted on the standardised
  x_train [n, D] (training statistics).

  'svc' is SVC(kernel='linear') fitted on the Gram matrix x xᵀ, computed
  once by one matrix product instead of libsvm's row-by-row kernel calls.
  """
  scaler = preprocessing.StandardScaler().fit(x_train)
  a, b = scaler.transform(x_train), scaler.transform(x_test)
  if formulation == 'svc':
    model = svm.SVC(kernel='precomputed', C=C).fit(a @ a.T, y_train)
    return model.predict(b @ a.T)
  if formulation in ('linear_svc_dual', 'linear_svc_primal'):
    model = svm.LinearSVC(C=C, dual=formulation == 'linear_svc_dual',
                          max_iter=20000, random_state=seed)
    return model.fit(a, y_train).predict(b)
  raise ValueError(f'unknown SVM formulation {formulation!r}; valid: '
                   f'{", ".join(FORMULATIONS)}')


def inner_folds(speaker, label, seed: int = 0
                ) -> tuple[list[splits.Fold], str]:
  """Held-out splits of one training fold's rows for choosing the SVM.

  Groups of its speakers (INNER_FOLDS of them, or one per speaker when
  fewer), so the choice is made on speakers the model did not see, as the
  test fold will be; a fold of a single speaker falls back to a stratified
  split of its utterances.

  Returns:
    (folds over the given rows, 'speakers' or 'utterances').
  """
  speaker = np.asarray(speaker)
  n_speakers = np.unique(speaker).size
  if n_speakers >= 2:
    k = min(INNER_FOLDS, n_speakers)
    folds = splits.speaker_kfold({'speaker': speaker},
                                 None if k == n_speakers else k, seed)
    return folds, 'speakers'
  k = int(min(3, np.bincount(np.asarray(label)).max()))
  if k < 2:
    raise ValueError('a training fold of one utterance per class cannot '
                     'choose an SVM; pass C to fix it')
  splitter = ms.StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
  folds = [(np.sort(tr), np.sort(te)) for tr, te in
           splitter.split(np.zeros(speaker.size), np.asarray(label))]
  return folds, 'utterances'


def select_svm(x, label, speaker, formulations: Sequence[str] = ('svc',),
               c_grid: Sequence[float] = C_GRID, seed: int = 0
               ) -> dict[str, Any]:
  """The (formulation, C) with the best unweighted accuracy on held-out
  training speakers (`inner_folds`), predictions pooled over the splits;
  ties go to the first in formulations x c_grid order (smallest C).

  Returns:
    {'formulation', 'C', 'inner_ua' (of the choice), 'inner' ('speakers' |
    'utterances'), 'scores': {'<formulation> C=<C>': UA}}.
  """
  x, label = np.asarray(x), np.asarray(label)
  folds, inner = inner_folds(speaker, label, seed)
  scores, best = {}, None
  for formulation in formulations:
    for C in c_grid:
      pred = np.empty_like(label)
      for tr, te in folds:
        pred[te] = fit_predict(formulation, C, x[tr], label[tr], x[te], seed)
      ua = float(sk_metrics.balanced_accuracy_score(label, pred))
      scores[f'{formulation} C={C:g}'] = ua
      if best is None or ua > best[2]:
        best = (formulation, float(C), ua)
  return {'formulation': best[0], 'C': best[1], 'inner_ua': best[2],
          'inner': inner, 'scores': scores}
