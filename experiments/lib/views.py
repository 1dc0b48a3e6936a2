"""What layer 1 sees: the paper's segments, or utterance functionals.

`config.model.input_view` names it:
  'segment' | 'time_pooled' | 'time_stats'   a segment view (pathnet_jax's
      model.INPUT_VIEWS): one row per 64-frame log-mel segment;
  'functionals:<set>'   the utterance's openSMILE functionals (eGeMAPSv02:
      88, ComParE_2016: 6,373): one row per utterance, the standard anchor's
      input, so PathNet and the SVM see the same numbers;
  '<segment view>+functionals:<set>'   each segment's view (e.g. its
      time-pooled log-mel, 384 values) joined to its utterance's functionals.

The two parts are standardised apart, each as `config.normalize` says: the
log-mel segments as the paper's pipeline does (then pooled), the functionals
per feature (per training fold, or per speaker). Folds are always made on
the segment set, so every view of a protocol splits the same utterances.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from data_prep import functionals as functionals_lib
from data_prep import store
from experiments.lib import chunked
from experiments.lib import data
from experiments.lib import normalize
from pathnet_jax import model as model_lib

FUNCTIONALS = 'functionals:'


@dataclasses.dataclass(frozen=True)
class View:
  """A parsed input view: its segment part and/or functionals set."""
  segments: str | None
  functionals: str | None

  @property
  def per_utterance(self) -> bool:
    """Rows are utterances (functionals alone), not segments."""
    return self.segments is None


def parse(name: str) -> View:
  """'time_pooled+functionals:eGeMAPSv02' -> View('time_pooled', ...)."""
  parts = name.split('+')
  segments = [p for p in parts if not p.startswith(FUNCTIONALS)]
  sets = [p[len(FUNCTIONALS):] for p in parts if p.startswith(FUNCTIONALS)]
  ok = (len(parts) <= 2 and len(segments) <= 1 and len(sets) <= 1 and
        all(s in model_lib.INPUT_VIEWS for s in segments) and
        all(s in functionals_lib.FEATURE_SETS for s in sets) and parts[0])
  if not ok or (not segments and not sets):
    views = ', '.join(model_lib.INPUT_VIEWS)
    sets_ = ', '.join(functionals_lib.FEATURE_SETS)
    raise ValueError(
        f'model.input_view must be one of {views}, {FUNCTIONALS}<set> or '
        f'<view>+{FUNCTIONALS}<set> (sets: {sets_}), got {name!r}')
  return View(segments[0] if segments else None, sets[0] if sets else None)


def of(config) -> View:
  return parse(config.model.input_view)


def functionals_mode(mode: str) -> str:
  """The normaliser mode for [n, D] functionals ('band_channel' has no bands:
  per feature, as 'pixel')."""
  return 'pixel' if mode == 'band_channel' else mode


@dataclasses.dataclass(frozen=True)
class Functionals:
  """A corpus's functionals aligned to its segment set.

  x: float32 [U, D], one row per utterance of the segment set, in its
  utterance order; speaker: [U].
  """
  x: np.ndarray
  speaker: np.ndarray
  feature_set: str
  skipped: tuple[str, ...] = ()


def load_functionals(spec: str, config, segments: store.FeatureSet,
                     feature_set: str) -> Functionals:
  """The openSMILE functionals (cached like every feature set) of the
  utterances of `segments`, a segment set loaded from the same spec."""
  cfg = config.copy_and_resolve_references()
  with cfg.unlocked():
    cfg.feature_params = {'functionals': feature_set}
  fs = data.load_corpus(spec, cfg)
  ids = np.asarray(fs.utterance_ids)[fs.utterance]
  row = {u: i for i, u in enumerate(ids.tolist())}
  missing = [u for u in segments.utterance_ids if u not in row]
  if missing:
    raise ValueError(f'{len(missing)} utterance(s) have log-mel segments but '
                     f'no {feature_set} functionals (first: {missing[0]}); '
                     'were files skipped in one extraction only?')
  take = np.asarray([row[u] for u in segments.utterance_ids], np.int64)
  return Functionals(x=np.asarray(fs.x, np.float32)[take],
                     speaker=np.asarray(fs.speaker)[take].astype(str),
                     feature_set=feature_set,
                     skipped=tuple(data.skipped_files(fs)))


def fit(view: View, mode: str, segments: store.FeatureSet,
        funcs: Functionals | None, rows: np.ndarray | None,
        max_gb: float | None = None):
  """(segment stats or None, functionals stats or None) fitted on the
  training rows `rows` of `segments` (None: every row, e.g. a source);
  segments over `max_gb` are read a block at a time (chunked.py)."""
  seg_stats = func_stats = None
  if view.segments is not None:
    fit_fn = (chunked.fit_normalizer if chunked.needed(segments.x, max_gb)
              else normalize.fit_normalizer)
    seg_stats = fit_fn(segments.x, mode, rows=rows, speaker=segments.speaker)
  if funcs is not None:
    utts = (np.arange(len(funcs.x)) if rows is None else
            np.unique(segments.utterance[rows]))
    func_stats = normalize.fit_normalizer(
        funcs.x, functionals_mode(mode), rows=utts, speaker=funcs.speaker)
  return seg_stats, func_stats


def model_rows(view: View, stats, segments: store.FeatureSet,
               funcs: Functionals | None, rows: np.ndarray,
               max_gb: float | None = None):
  """The rows layer 1 sees for segment rows `rows` of `segments`.

  Returns (x, label, utterance): segments' normalised rows (a segment
  view; pathnet_jax takes the view itself), [n, d] joined rows, or one row
  per utterance of `rows` (functionals alone), with their labels and
  utterance indices. Segments over `max_gb` GB (the whole set: every part
  of a fold then takes the same path) become their pooled view [n, d] a
  block at a time (chunked.py).
  """
  seg_stats, func_stats = stats
  if view.per_utterance:
    utts = np.unique(segments.utterance[rows])
    first = {u: r for r, u in zip(rows[::-1], segments.utterance[rows][::-1])}
    label = segments.label[[first[u] for u in utts]]
    x = normalize.apply_normalizer(func_stats, funcs.x[utts],
                                   speaker=funcs.speaker[utts])
    return x, label, utts
  if chunked.needed(segments.x, max_gb):
    chunked.check_view(view.segments, chunked.rows_gb(segments.x), max_gb)
    x = chunked.pooled_rows(segments.x, seg_stats, segments.speaker, rows,
                            view.segments)
  else:
    x = normalize.apply_normalizer(seg_stats, segments.x[rows],
                                   speaker=segments.speaker[rows])
  if view.functionals is not None:
    utt = segments.utterance[rows]
    pooled = (x if x.ndim == 2 else  # chunked: the view is taken already
              np.asarray(model_lib.input_view(x, view.segments),
                         np.float32).reshape(len(rows), -1))
    f = normalize.apply_normalizer(func_stats, funcs.x[utt],
                                   speaker=funcs.speaker[utt])
    x = np.concatenate([pooled, f], axis=1)
  return x, segments.label[rows], segments.utterance[rows]
