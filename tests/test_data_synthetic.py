"""data_prep.synthetic: the built-in rendered corpus."""
import collections

import numpy as np
import pytest
import threadpoolctl
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupShuffleSplit
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from data_prep import audio
from data_prep import labels
from data_prep import synthetic


@pytest.fixture(scope='module')
def corpus():
  return synthetic.make_corpus(seed=0)


@pytest.fixture(scope='module')
def split(corpus):
  """Utterance-grouped 75/25 split of standardised flattened segments."""
  x = corpus.x.reshape(len(corpus), -1)
  tr, te = next(GroupShuffleSplit(1, test_size=0.25, random_state=0).split(
      x, corpus.label, corpus.utterance))
  scaler = StandardScaler().fit(x[tr])
  return (scaler.transform(x[tr]), corpus.label[tr], scaler.transform(x[te]),
          corpus.label[te])


def test_default_corpus_shape(corpus):
  n = len(corpus)
  assert 300 <= n <= 900 and corpus.x.shape == (n, 64, 64, 3)
  assert corpus.x.dtype == np.float32 and np.isfinite(corpus.x).all()
  assert corpus.class_names == ('neutral', 'anger', 'fear', 'happiness',
                                'sadness')
  assert len(corpus.utterance_ids) == 6 * 5 * 8
  per_utt = np.bincount(corpus.utterance)
  assert set(per_utt) <= {2, 3}  # 1.0–1.5 s utterances
  assert set(corpus.speaker) == {f'S{i:02d}' for i in range(6)}
  assert collections.Counter(zip(corpus.speaker, corpus.sex)).keys() == {
      ('S00', 'f'), ('S01', 'm'), ('S02', 'f'), ('S03', 'm'), ('S04', 'f'),
      ('S05', 'm')}
  # Every utterance's segments share one label and one speaker.
  for u in range(0, 240, 37):
    rows = corpus.utterance == u
    assert len(set(corpus.label[rows])) == 1
    assert len(set(corpus.speaker[rows])) == 1
  assert corpus.params['n_mels'] == 64 and corpus.params['seed'] == 0


def test_deterministic_per_seed():
  small = dict(num_speakers=2, num_classes=3, utterances_per_class=2)
  a = synthetic.make_corpus(seed=3, **small)
  b = synthetic.make_corpus(seed=3, **small)
  c = synthetic.make_corpus(seed=4, **small)
  np.testing.assert_array_equal(a.x, b.x)
  np.testing.assert_array_equal(a.label, b.label)
  assert a.utterance_ids == b.utterance_ids
  assert a.x.shape != c.x.shape or np.abs(a.x - c.x).max() > 1.0


def test_class_names_from_vocabulary():
  for k in (2, 7, 9):
    names = synthetic.class_names(k)
    assert len(names) == k and names == labels.ordered(names)
  with pytest.raises(ValueError):
    synthetic.class_names(10)


def test_rendered_pitch_follows_speaker_and_class():
  # The real pipeline sees the rendered audio: a low male voice in sadness
  # puts its energy in lower mel bands than a high female voice in anger.
  rng = np.random.default_rng(0)
  f = synthetic.Speaker('F', 'f', 230.0, (700.0, 1600.0))
  m = synthetic.Speaker('M', 'm', 100.0, (600.0, 1400.0))
  hi = audio.logmel_segments(synthetic.render(rng, f, 'anger', 1.0), 16000)
  lo = audio.logmel_segments(synthetic.render(rng, m, 'sadness', 1.0), 16000)
  band = np.arange(64)[:, None]
  centroid = lambda s: (np.exp(s[0, ..., 0] / 10) * band).sum() / np.exp(
      s[0, ..., 0] / 10).sum()
  assert centroid(hi) > centroid(lo)
  assert hi[..., 0].mean() > lo[..., 0].mean()  # anger is louder


def test_linear_classifier_above_chance_but_not_perfect(split):
  x_tr, y_tr, x_te, y_te = split
  with threadpoolctl.threadpool_limits(1):  # 10× faster on a busy machine
    clf = LogisticRegression(max_iter=300).fit(x_tr, y_tr)
  acc = clf.score(x_te, y_te)
  assert 0.4 < acc < 1.0  # chance is 0.2


def test_small_mlp_learns_it(split):
  x_tr, y_tr, x_te, y_te = split
  with threadpoolctl.threadpool_limits(1):
    mlp = MLPClassifier((64,), max_iter=300, random_state=0).fit(x_tr, y_tr)
  assert mlp.score(x_te, y_te) > 0.6
