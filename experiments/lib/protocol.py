"""A protocol's runs: every (seed, fold) of an experiment evolved as one batch.

pathnet_protocol.py reads the corpus and owns the workdir; this module turns the folds
of every seed into `pathnet_jax.runs.Run`s (training-fold normalisation,
fitness rows, transfer's frozen source pathway), evolves them together and
scores their test folds in one jitted call.

Keys, as a run of one seed always had them (so a batch reproduces it):
  key(seed) -> (source key, fold keys); fold i evolves with fold_in(fold
  keys, i); its re-initialisation after transfer uses fold_in(that, 1).
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from experiments.lib import splits
from experiments.lib import views
from pathnet_jax import ensemble
from pathnet_jax import ga as ga_lib
from pathnet_jax import checks
from pathnet_jax import metrics
from pathnet_jax import pathway
from pathnet_jax import runs as runs_lib
from pathnet_jax import train as train_lib
from pathnet_jax import transfer


def seeds_of(config) -> list[int]:
  """The run's seeds: `config.seeds`, or [config.seed] when it is empty."""
  seeds = [int(s) for s in config.seeds]
  return seeds or [int(config.seed)]


def keys_of(seed: int) -> tuple[jax.Array, jax.Array]:
  """(source key, fold keys) of a seed."""
  return tuple(jax.random.split(jax.random.key(seed)))


def fold_plan(config, fs, seed: int | None = None
              ) -> tuple[list[splits.Fold], list[int]]:
  """All folds of the target under config.protocol for `seed` (default
  config.seed), and the indices to run: config.folds, or all; at most the
  first `config.max_folds` (if set) of them."""
  seed = int(config.seed if seed is None else seed)
  n_splits = int(config.n_splits) or None
  folds = splits.make_folds(config.protocol, fs, n_splits, seed)
  chosen = list(config.folds) or list(range(len(folds)))
  if config.get('max_folds', 0):
    chosen = chosen[:int(config.max_folds)]
  if min(chosen) < 0 or max(chosen) >= len(folds):
    raise ValueError(f'config.folds {chosen} out of range: {len(folds)} folds')
  return folds, chosen


@dataclasses.dataclass
class FoldRun:
  """One (seed, fold) of a protocol, with the host arrays it evolves on.

  train_rows/test_rows: segment-row indices of the fold into the corpus's
  segment set (folds are made there whatever the view); fit_rows: the
  training rows evolution trains on (fewer with config.fitness=
  'validation' or 'heldout': fitness_rows are then held out for fitness,
  see `fitness_split`); n_fold_rows:
  training rows before config.train_fraction. x_fit, y_fit: what layer 1
  sees for fit_rows (experiments/lib/views.py: segments, or one row per
  utterance) and their labels; fitness_x/y the same for fitness_rows (or
  None); x_test, y_test, utt_test: the test fold's rows, labels and
  utterance indices. stats: the fold's (segment, functionals) normalisers.
  """
  seed: int
  fold: int
  key: jax.Array
  train_rows: np.ndarray
  test_rows: np.ndarray
  fit_rows: np.ndarray
  fitness_rows: np.ndarray | None
  n_fold_rows: int
  stats: tuple[Any, Any]
  x_fit: np.ndarray
  y_fit: np.ndarray
  fitness_x: np.ndarray | None
  fitness_y: np.ndarray | None
  x_test: np.ndarray
  y_test: np.ndarray
  utt_test: np.ndarray

  @property
  def name(self) -> str:
    return f'fold {self.fold}, seed {self.seed}'


def _rows_key(*rows) -> str:
  h = hashlib.sha256()
  for r in rows:
    h.update(b'-' if r is None else np.asarray(r, np.int64).tobytes() + b'|')
  return h.hexdigest()


class _Rows:
  """Model rows of any segment rows of a corpus under one set of
  statistics; with fold-independent statistics (each speaker's own, or
  none) the whole corpus is prepared once and a fold takes its rows."""

  def __init__(self, view, stats, fs, funcs, corpus_wide: bool,
               max_gb: float):
    self.view, self.stats, self.fs, self.funcs = view, stats, fs, funcs
    self.max_gb = max_gb
    self.all = (views.model_rows(view, stats, fs, funcs, np.arange(len(fs)),
                                 max_gb) if corpus_wide else None)

  def __call__(self, rows):
    if self.all is None:
      return views.model_rows(self.view, self.stats, self.fs, self.funcs,
                              rows, self.max_gb)
    take = (np.unique(self.fs.utterance[rows]) if self.view.per_utterance
            else rows)  # per utterance: row u of the corpus is utterance u
    return tuple(a[take] for a in self.all)


def fitness_split(config, fs, train_rows, seed: int
                  ) -> tuple[np.ndarray, np.ndarray | None]:
  """(fit_rows, fitness_rows or None): the training rows evolution trains
  on and those its fitness is measured on (config.fitness), both inside
  `train_rows`. 'train': all rows, no held-out part. 'validation': whole
  utterances held out. 'heldout': whole speakers under the speaker
  protocol (so fitness measures what its test folds measure), whole
  utterances otherwise; `config.validation_fraction` of them, seeded by
  `seed`."""
  if config.fitness == 'train':
    return train_rows, None
  if config.fitness == 'heldout' and config.protocol == 'speaker_kfold':
    return splits.speaker_validation_split(
        train_rows, fs.speaker, config.validation_fraction, seed)
  return splits.validation_split(train_rows, fs.utterance, fs.label,
                                 config.validation_fraction, seed)


def plan(config, fs, seeds: Sequence[int], skip=frozenset(),
         funcs: views.Functionals | None = None) -> list[FoldRun]:
  """The FoldRuns of every seed's chosen folds, except (seed, fold) pairs in
  `skip` (finished earlier). `funcs`: the corpus's functionals, for views
  that use them. Folds that several seeds share (leave-one-speaker-out)
  share their arrays, so a batch holds each fold's rows once."""
  view = views.of(config)
  corpus_wide, max_gb = None, float(config.data_memory_gb)
  if config.normalize in ('speaker', 'none'):
    corpus_wide = _Rows(view, views.fit(view, config.normalize, fs, funcs,
                                        None, max_gb), fs, funcs, True, max_gb)
  prepared: dict[str, tuple] = {}
  out = []
  for seed in seeds:
    folds, chosen = fold_plan(config, fs, seed)
    fold_keys = keys_of(seed)[1]
    for i in chosen:
      if (seed, i) in skip:
        continue
      train_rows, test_rows = folds[i]
      n_fold_rows = int(train_rows.size)
      train_rows = splits.subsample_utterances(
          train_rows, fs.utterance, fs.label,
          float(config.train_fraction), seed + i)
      fit_rows, fitness_rows = fitness_split(config, fs, train_rows,
                                             seed + i)
      key = _rows_key(train_rows, fit_rows, fitness_rows, test_rows)
      if key not in prepared:
        rows = corpus_wide or _Rows(view, views.fit(
            view, config.normalize, fs, funcs, train_rows, max_gb), fs, funcs,
                                    False, max_gb)
        x_fit, y_fit, _ = rows(fit_rows)
        fitness_x = fitness_y = None
        if fitness_rows is not None:
          fitness_x, fitness_y, _ = rows(fitness_rows)
        prepared[key] = (rows.stats, x_fit, y_fit, fitness_x, fitness_y,
                         *rows(test_rows))
      (stats, x_fit, y_fit, fitness_x, fitness_y, x_test, y_test,
       utt_test) = prepared[key]
      out.append(FoldRun(
          seed=seed, fold=i, key=jax.random.fold_in(fold_keys, i),
          train_rows=train_rows, test_rows=test_rows, fit_rows=fit_rows,
          fitness_rows=fitness_rows, n_fold_rows=n_fold_rows, stats=stats,
          x_fit=x_fit, y_fit=y_fit, fitness_x=fitness_x,
          fitness_y=fitness_y, x_test=x_test, y_test=y_test,
          utt_test=utt_test))
  return out


def check(config, fs, plans: Sequence[FoldRun], src=None) -> None:
  """Reject data a run cannot evolve on (one error naming the run) before
  any work or any write."""
  num_classes = len(fs.class_names)
  for p in plans:
    try:
      checks.validate(config, p.x_fit, p.y_fit, num_classes)
    except ValueError as e:
      raise ValueError(f'{p.name}: {e}') from None
  if src is not None:
    try:
      checks.validate(config, src.x, src.label, len(src.class_names))
    except ValueError as e:
      raise ValueError(f'source: {e}') from None


def batch_id(names: Sequence[str]) -> str:
  """A short name for a batch of runs (its checkpoint folder's suffix)."""
  return hashlib.sha256('\n'.join(names).encode()).hexdigest()[:10]


def source_stats(config, src, src_funcs=None):
  """The source's normalisers, fitted on all of it (it trains on all)."""
  return views.fit(views.of(config), config.normalize, src, src_funcs, None,
                   float(config.data_memory_gb))


def source_runs(config, src, seeds: Sequence[int], src_funcs=None
                ) -> list[runs_lib.Run]:
  """One source evolution per seed on all of the (pooled) source set; with
  config.fitness='heldout' (`fitness_split`, seeded by the seed) its
  fitness rows are held out of it, so the pathway frozen for transfer is
  the one with the best held-out fitness."""
  view = views.of(config)
  stats = source_stats(config, src, src_funcs)
  rows = lambda r: views.model_rows(view, stats, src, src_funcs, r,
                                    float(config.data_memory_gb))[:2]
  if config.fitness != 'heldout':  # 'validation' held out target rows only
    x, y = rows(np.arange(len(src)))
    return [runs_lib.Run(key=keys_of(s)[0], x=x, y=y,
                         num_classes=len(src.class_names),
                         name=f'source, seed {s}') for s in seeds]
  out = []
  for s in seeds:
    fit_rows, fitness_rows = fitness_split(config, src, np.arange(len(src)),
                                           s)
    (x, y), (fitness_x, fitness_y) = rows(fit_rows), rows(fitness_rows)
    out.append(runs_lib.Run(key=keys_of(s)[0], x=x, y=y, fitness_x=fitness_x,
                            fitness_y=fitness_y,
                            num_classes=len(src.class_names),
                            name=f'source, seed {s}'))
  return out


def target_runs(config, fs, plans: Sequence[FoldRun],
                sources: dict[int, Any] | None) -> list[runs_lib.Run]:
  """The runs.Run of every FoldRun; with `sources` (seed -> the source's
  EvolveResult) its best pathway is frozen and the rest re-initialised;
  under config.method='finetune' every weight is kept, nothing frozen,
  and only the head is new."""
  num_classes = len(fs.class_names)
  out = []
  for p in plans:
    frozen = init_params = None
    if sources is not None and config.method == 'finetune':
      init_params = transfer.new_head(
          sources[p.seed].params, jax.random.fold_in(p.key, 1), num_classes)
    elif sources is not None:
      source = sources[p.seed]
      frozen, init_params = transfer.freeze(
          source.params, source.best_genotype, config,
          key=jax.random.fold_in(p.key, 1), num_classes=num_classes)
    out.append(runs_lib.Run(
        key=p.key, x=p.x_fit, y=p.y_fit, fitness_x=p.fitness_x,
        fitness_y=p.fitness_y, frozen=frozen, init_params=init_params,
        num_classes=num_classes, name=p.name))
  return out


def scoring_genotypes(config, result, fitness_x, fitness_y) -> np.ndarray:
  """int32[k, L, N]: the run's best pathway, then (config.ensemble_size > 1)
  the distinct others of its final population with the highest fitness on
  `fitness_x`, `fitness_y` (the rows evolution's fitness used), measured
  again on the evolution's final weights (before any 'final' phase, which
  trains on those rows). The GA's stored fitness is stale: a mutated
  loser inherits its winner's, new untrained modules and all."""
  k = int(config.ensemble_size)
  best = np.asarray(result.best_genotype, np.int32)
  if k == 1:
    return best[None]
  genotypes = np.asarray(result.state.ga.genotypes)
  idx, w = pathway.slots(jnp.asarray(genotypes),
                         *(result.frozen_slots or (None, None)))
  fitness, _ = train_lib.evaluate(
      result.state.params, idx, w, jnp.asarray(fitness_x),
      jnp.asarray(fitness_y),
      batch_size=int(config.optim.eval_batch_size),
      aggregate=config.model.aggregate,
      compute=config.model.compute)
  return ensemble.fittest_distinct(genotypes, np.asarray(fitness), k,
                                   best=best)


def pathway_map(config, result) -> dict[str, Any]:
  """What a run's pathway map draws (plots.plot_pathway_map): the share of
  the population that held each module, averaged over the generations run
  ('module_occupancy' [L, M]), and the frozen source modules of a transfer
  ('frozen_modules' [L, M] bool, absent otherwise)."""
  m = int(config.model.num_modules)
  members = max(1, int(result.generations_run)) * int(
      config.evolution.population_size)
  out = {'module_occupancy': np.asarray(result.state.occupancy) / members}
  if result.frozen_slots is not None:
    idx, w = result.frozen_slots
    out['frozen_modules'] = np.asarray(pathway.slots_to_mask(
        jnp.asarray(idx), jnp.asarray(w), m)) > 0
  return out


def score(config, fs, plans: Sequence[FoldRun], results
          ) -> tuple[list[dict], list[np.ndarray]]:
  """Each run's test-fold scores: its pathway (or ensemble, config.
  ensemble_size) on its test rows, all runs in one jitted call. Returns the
  scores and each run's scored pathways int32[k, L, N]."""
  members = []
  for p, r in zip(plans, results):
    fx, fy = ((p.x_fit, p.y_fit) if p.fitness_x is None else
              (p.fitness_x, p.fitness_y))
    members.append(scoring_genotypes(config, r, fx, fy))
  log_probs = runs_lib.log_probs(
      config, [r.params for r in results], members,
      [r.frozen_slots for r in results], [p.x_test for p in plans])
  num_classes = len(fs.class_names)
  out = []
  for p, r, genotypes, lp_members in zip(plans, results, members, log_probs):
    sgd_per_generation = (ga_lib.pathways_per_generation(config) *
                          int(r.steps_per_pathway))
    lp = ensemble.mean_probability(lp_members)  # member 0 itself when k = 1
    scores = {
        'fold': p.fold, 'seed': p.seed, 'n_train_rows': int(len(p.x_fit)),
        'n_fold_train_rows': p.n_fold_rows,
        'n_train_utterances': int(np.unique(fs.utterance[p.train_rows]).size),
        'n_fitness_rows': int(len(p.x_fit if p.fitness_x is None else
                                  p.fitness_x)),
        'n_test_rows': int(len(p.x_test)),
        'segment': metrics.segment_scores(p.y_test, lp.argmax(1),
                                          num_classes),
        'utterance': metrics.utterance_scores(lp, p.y_test, p.utt_test,
                                              num_classes),
        'best_genotype': r.best_genotype, 'best_fitness': r.best_fitness,
        'ensemble_size': len(genotypes),
        'history': dict(r.history), 'steps_per_pathway': r.steps_per_pathway,
        # < generations when evolution.patience stopped the run.
        'generations_run': r.generations_run,
        'final_steps': r.final_steps,
        # Target SGD steps: a generation trains its tournament's pathways
        # T steps each (a control's one pathway as often), then the final
        # phase; the level field's budget (issue 33).
        'sgd_steps_per_generation': sgd_per_generation,
        'target_sgd_steps': (r.generations_run * sgd_per_generation +
                             r.final_steps),
        **pathway_map(config, r),
    }
    if len(genotypes) > 1:  # the best pathway (member 0) alone, paired
      scores['single_best_utterance'] = metrics.utterance_scores(
          lp_members[0], p.y_test, p.utt_test, num_classes)
    out.append(scores)
  return out, members
