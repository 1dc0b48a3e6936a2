"""Ablations of the generalisation options, chosen on validation data only
(the binary: experiments/ablation.py).

For each variant (a set of config overrides on top of a base config) and each
chosen fold, the fold's TRAINING utterances are split into a selection set
(utterance-grouped and stratified, or whole training speakers) and a pool the
variant trains on; the variant is scored on the selection set, never on the
test fold. The test fold's score is recorded beside it for information only.
"""
from __future__ import annotations

import os
import time
from typing import Any, Sequence

import jax
import numpy as np

from experiments.lib import configs
from experiments.lib import controls
from experiments.lib import data
from experiments.lib import outputs
from experiments.lib import protocol
from experiments.lib import splits
from experiments.lib import views
from experiments.lib import workdir as workdir_lib
from pathnet_jax import augment as augment_lib
from pathnet_jax import ensemble
from pathnet_jax import metrics
from pathnet_jax import runs as runs_lib

# Each variant changes the paper's method in one respect (or combines some).
VARIANTS: dict[str, dict[str, Any]] = {
    'paper': {},
    'val_fitness': {'fitness': 'validation', 'evolution.tiebreak_loss': True},
    'weight_decay': {'optim.weight_decay': 1e-3},
    'input_dropout': {'optim.input_dropout': 0.2},
    'augment': {'augment.enabled': True},
    'band_norm': {'normalize': 'band_channel'},
    # Transductive: each speaker standardised by its own unlabelled segments.
    'speaker_norm': {'normalize': 'speaker'},
    'time_pooled': {'model.input_view': 'time_pooled'},
    'time_stats': {'model.input_view': 'time_stats'},
    'conv': {'model.module_type': 'conv', 'model.module_units': 8},
    # Training per generation: the paper's one SGD epoch per pathway
    # underfits everything but a memorising 12288-input layer.
    'adam': {'optim.optimizer': 'adamw', 'optim.learning_rate': 1e-3},
    'momentum': {'optim.optimizer': 'momentum'},
    'epochs5': {'evolution.epochs_per_pathway': 5},
    # Budget: `improved`'s 60 generations leave RAVDESS's training fitness
    # at 0.75-0.82 (underfit), so twice the search or twice the training.
    'generations120': {'evolution.generations': 120},
    'epochs10': {'evolution.epochs_per_pathway': 10},
    'epochs20': {'evolution.epochs_per_pathway': 20},
    # Test-time ensembles of the final population (pathnet_jax/ensemble.py).
    'ensemble3': {'ensemble_size': 3},
    # Issue 26: fitness on held-out training speakers (speaker protocol)
    # or utterances; its loss alone; the best pathway then trained on every
    # row; stopping when the held-out fitness stalls.
    'heldout': {'fitness': 'heldout', 'evolution.tiebreak_loss': True},
    'heldout_loss': {'fitness': 'heldout',
                     'evolution.fitness_metric': 'loss'},
    'heldout_final': {'fitness': 'heldout', 'evolution.tiebreak_loss': True,
                      'evolution.heldout_training': 'final'},
    'patience20': {'evolution.patience': 20},
    # The final phase as long as a pathway's training in a generation.
    'final5': {'evolution.final_epochs': 5},
    # Twice the default share of training speakers (utterances) held out.
    'holdout30': {'validation_fraction': 0.3},
    'ensemble5': {'ensemble_size': 5},
    'ensemble10': {'ensemble_size': 10},
    # Utterance views (experiments/lib/views.py; issue 20): the anchor's
    # openSMILE functionals as layer-1 input, alone or joined to each
    # segment's time-pooled log-mel.
    'egemaps': {'model.input_view': 'functionals:eGeMAPSv02'},
    'compare': {'model.input_view': 'functionals:ComParE_2016'},
    'pooled_egemaps': {
        'model.input_view': 'time_pooled+functionals:eGeMAPSv02'},
    'pooled_compare': {
        'model.input_view': 'time_pooled+functionals:ComParE_2016'},
    # Issue 35: what a tuned linear SVM has. A linear path from layer 1's
    # view to the head; the head's L2 penalty on a grid, as the anchor's C
    # (head_l2 ~ 1 / (C n)); the SVM's hinge loss.
    'skip': {'model.head_skip': True},
    'hinge': {'optim.loss': 'hinge'},
    **{f'l2_{v:g}': {'optim.head_l2': v}
       for v in (1e-4, 1e-3, 1e-2, 1e-1, 1.0)},
    # Issue 33's controls on the same engine, view and budget.
    **{m: {'method': m} for m in ('independent', 'fixed_pathway')},
}


def variant_overrides(name: str) -> dict[str, Any]:
  """Overrides of a variant; 'a+b' merges variants a and b (b wins)."""
  if name in VARIANTS:
    return VARIANTS[name]
  merged: dict[str, Any] = {}
  for part in name.split('+'):
    if part not in VARIANTS:
      raise ValueError(f'unknown variant {part!r} in {name!r}; valid: '
                       f'{sorted(VARIANTS)} joined by +')
    merged.update(VARIANTS[part])
  return merged


def variant_configs(config, names: Sequence[str]) -> dict[str, Any]:
  """name -> config with that variant's overrides, for each of `names`."""
  return {name: controls.engine_config(
      configs.with_overrides(config, variant_overrides(name)))
          for name in names}


def split_training_fold(config, fs, train_rows, select_fraction, seed,
                        select_by: str = 'utterance'):
  """(fit_rows, fitness_rows or None, select_rows), utterance-disjoint, all
  inside the training fold: the test fold is never touched. select_by
  'speaker' holds out whole training speakers for selection."""
  if select_by == 'speaker':  # select_by checked by validate.check_ablation
    pool_rows, select_rows = splits.speaker_validation_split(
        train_rows, fs.speaker, select_fraction, seed)
  else:
    pool_rows, select_rows = splits.validation_split(
        train_rows, fs.utterance, fs.label, select_fraction, seed)
  fit_rows, fitness_rows = protocol.fitness_split(config, fs, pool_rows,
                                                 seed + 1)
  return fit_rows, fitness_rows, select_rows


def _utterance_scores(lp_members, y, utt, num_classes):
  """(ensemble scores, best pathway's scores) of members' log-probs."""
  return [metrics.utterance_scores(lp, y, utt, num_classes)
          for lp in (ensemble.mean_probability(lp_members), lp_members[0])]


def score_variant(config, fs, funcs, folds, fold_ids, select_fraction,
                  select_by: str = 'utterance', name: str = ''):
  """Evolve on part of each chosen training fold, all folds as one batch;
  score the selection set and the test fold of each. Returns a row per
  fold."""
  view = views.of(config)
  num_classes = len(fs.class_names)
  run_list, sets = [], []
  for i in fold_ids:
    train_rows, test_rows = folds[i]
    fit_rows, fitness_rows, select_rows = split_training_fold(
        config, fs, train_rows, select_fraction, config.seed + i, select_by)
    max_gb = float(config.data_memory_gb)
    stats = views.fit(view, config.normalize, fs, funcs, fit_rows, max_gb)
    rows = lambda r, stats=stats: views.model_rows(view, stats, fs, funcs, r,
                                                   max_gb)
    x_fit, y_fit, _ = rows(fit_rows)
    fitness_x, fitness_y = x_fit, y_fit
    if fitness_rows is not None:
      fitness_x, fitness_y, _ = rows(fitness_rows)
    run_list.append(runs_lib.Run(
        key=jax.random.fold_in(jax.random.key(config.seed), i), x=x_fit,
        y=y_fit, fitness_x=None if fitness_rows is None else fitness_x,
        fitness_y=None if fitness_rows is None else fitness_y,
        num_classes=num_classes, name=f'{name} fold {i}'.strip()))
    sets.append(((fitness_x, fitness_y), rows(select_rows), rows(test_rows)))
  t0 = time.perf_counter()
  results = runs_lib.evolve_runs(config, run_list,
                                 augment=augment_lib.from_config(config))
  seconds = (time.perf_counter() - t0) / len(run_list)
  members = [protocol.scoring_genotypes(config, r, *fit)
             for r, (fit, _, _) in zip(results, sets)]
  args = ([r.params for r in results], members,
          [r.frozen_slots for r in results])
  select_lp = runs_lib.log_probs(config, *args, [s[1][0] for s in sets])
  test_lp = runs_lib.log_probs(config, *args, [s[2][0] for s in sets])
  out = []
  for r, genotypes, (_, sel, test), s_lp, t_lp in zip(
      results, members, sets, select_lp, test_lp):
    sel_scores, sel_best = _utterance_scores(s_lp, sel[1], sel[2],
                                             num_classes)
    test_scores, test_best = _utterance_scores(t_lp, test[1], test[2],
                                               num_classes)
    row = {'selection_wa': sel_scores['wa'], 'selection_ua': sel_scores['ua'],
           'test_wa': test_scores['wa'], 'test_ua': test_scores['ua'],
           'best_fitness': r.best_fitness, 'seconds': seconds,
           'generations_run': r.generations_run,
           'ensemble_size': len(genotypes)}
    if len(genotypes) > 1:  # the same evolution scored by its best alone
      row.update(selection_ua_single_best=sel_best['ua'],
                 test_ua_single_best=test_best['ua'])
    out.append(row)
  return out


def run(config, variants: Sequence[str], folds: Sequence[int],
        select_fraction: float = 0.2,
        select_by: str = 'utterance') -> dict[str, Any]:
  """Every variant on the chosen folds (its folds evolved as one batch)."""
  fs = data.load_corpus(config.target, config)
  all_folds = splits.make_folds(config.protocol, fs,
                                int(config.n_splits) or None, config.seed)
  functionals: dict[str, views.Functionals] = {}
  out: dict[str, Any] = {}
  for name, cfg in variant_configs(config, variants).items():
    overrides = variant_overrides(name)
    feature_set = views.of(cfg).functionals
    if feature_set and feature_set not in functionals:
      functionals[feature_set] = views.load_functionals(cfg.target, cfg, fs,
                                                        feature_set)
    rows = score_variant(cfg, fs, functionals.get(feature_set), all_folds,
                         folds, select_fraction, select_by, name)
    for i, row in zip(folds, rows):
      print(f'{name} fold {i}: selection UA {row["selection_ua"]:.3f} '
            f'WA {row["selection_wa"]:.3f} | test UA '
            f'{row["test_ua"]:.3f} ({row["seconds"]:.0f}s)' + (
                f' | best pathway alone: selection UA '
                f'{row["selection_ua_single_best"]:.3f}'
                if 'selection_ua_single_best' in row else ''),
            flush=True)
    keys = ['selection_wa', 'selection_ua', 'test_wa', 'test_ua', 'seconds',
            'generations_run']
    keys += [k for k in ('selection_ua_single_best', 'test_ua_single_best')
             if all(k in r for r in rows)]
    out[name] = {'overrides': overrides, 'folds': rows, **{
        f'{k}_mean': float(np.mean([r[k] for r in rows])) for k in keys}}
  return out


def markdown(results: dict[str, Any]) -> str:
  lines = ['| variant | selection UA | selection WA | test UA (not used '
           'for choice) | s/fold |', '|---|---|---|---|---|']
  for name, r in results.items():
    lines.append(f"| {name} | {r['selection_ua_mean']:.3f} | "
                 f"{r['selection_wa_mean']:.3f} | {r['test_ua_mean']:.3f} | "
                 f"{r['seconds_mean']:.0f} |")
  return '\n'.join(lines) + '\n'


def run_to_file(out: str, config, *args) -> dict[str, Any]:
  """`run(config, *args)`, its results written to the JSON `out`; the file
  is locked from before the work (hours) starts, so a second ablation on
  it fails at once instead of racing."""
  out = os.path.abspath(out)
  with workdir_lib.exclusive(os.path.dirname(out),
                             lock_name=os.path.basename(out) + '.lock',
                             what='ablation output'):
    results = run(config, *args)
    outputs.write_json(out, {'config': config.to_dict(),
                                  'results': results})
  return results
