"""The fine-tuning CNN's protocol: every (seed, fold) trained as one batch.

An AlexNet-like CNN (experiments/lib/cnn.py) on 3-channel log-mel segments.
No ImageNet weights can be downloaded here, so pre-training on a source
corpus takes their place; then ALL layers are fine-tuned on the target with
a new head. Without a source the CNN trains from scratch.

The folds come from the PathNet planner (`protocol.fold_plan`: config.
protocol, n_splits, folds, max_folds) for each seed of config.seeds (or
config.seed), and train together (experiments/lib/cnn_runs.py). Keys, as a
run of one seed always had them: key(seed) -> (pre-training key, fold keys);
fold i trains with fold_in(fold keys, i).

Writes to the workdir, per seed (the workdir itself for a run of config.seed,
`seed_<s>/` for each of config.seeds): results.json (per-fold and aggregated
segment- and utterance-level WA/UA, per-class recall, confusion, config,
timings, skipped corpus files), confusion.png, summary.md and TensorBoard
events (`scalar_tags`). With config.seeds the workdir's results.json and
summary.md hold each seed's aggregate and their mean.
"""
from __future__ import annotations

import contextlib
import os
import time
from typing import Any, NamedTuple

from absl import logging
import jax
import numpy as np

from experiments.lib import cnn
from experiments.lib import cnn_runs
from experiments.lib import data
from experiments.lib import finetune_report
from experiments.lib import normalize
from experiments.lib import outputs
from experiments.lib import protocol
from experiments.lib import splits
from experiments.lib import tensorboard
from experiments.lib import validate
from experiments.lib import workdir as workdir_lib
from pathnet_jax import metrics

# Field names of configs recorded before the CNN config took the PathNet
# names (results.json of older workdirs) -> today's names.
RENAMED = {'normalizer': 'normalize'}


def upgrade_recorded(config_dict: dict[str, Any]) -> dict[str, Any]:
  """A recorded finetune config with today's field names and defaults of
  fields added since (older runs behaved as one seed, batched alone)."""
  out = {RENAMED.get(k, k): v for k, v in config_dict.items()}
  out.setdefault('seeds', [])
  out.setdefault('folds', [])
  out.setdefault('run_batching', 'auto')
  if out.get('n_splits') is None:
    out['n_splits'] = 0
  if not out.get('max_folds'):  # 0 (all folds) as absent
    out.pop('max_folds', None)
  return out


def load_corpus(name: str, config):
  """FeatureSet for a corpus spec, exactly as experiments.train reads it:
  'synthetic', 'emodb', 'emodb:sex=f', pooled 'enterface+savee', a .npz."""
  return data.load_corpus(name, config)


class FinetuneResult(NamedTuple):
  params: cnn.Params  # fine-tuned on the target
  pretrained: cnn.Params  # after source pre-training (source head)
  history: dict[str, Any]  # {'pretrain': ..., 'finetune': ...}


def pretrain_then_finetune(key, config, source, target,
                           num_classes: tuple[int, int] | None = None
                           ) -> FinetuneResult:
  """One source pre-training, then every layer tuned on the target.

  Args:
    key: jax.random key.
    config: finetune config.
    source: (x [n_s, H, W, C], y [n_s]) normalised source rows.
    target: (x [n_t, H, W, C], y [n_t]) normalised target training rows.
    num_classes: (source, target) class counts; default max label + 1.
  """
  if num_classes is None:
    num_classes = (int(np.max(source[1])) + 1, int(np.max(target[1])) + 1)
  pre_key, fine_key = jax.random.split(key)
  lr = config.pretrain_learning_rate or config.learning_rate
  pretrained, pre_hist = cnn.train_cnn(
      pre_key, config, *source, num_classes=num_classes[0],
      epochs=config.pretrain_epochs, learning_rate=lr)
  run = fold_run(fine_key, config, target, None, pretrained, num_classes[1])
  params, fine_hist = cnn.train_cnn(run.key, config, run.x, run.y,
                                    run.init_params)
  return FinetuneResult(params, pretrained,
                        {'pretrain': pre_hist, 'finetune': fine_hist})


def fold_run(key, config, fit, validation, pretrained, num_classes: int,
             name: str = 'run') -> cnn_runs.CnnRun:
  """The CnnRun of one fold: a new head on `pretrained`'s body (keys split
  as fine-tuning always split them), or from scratch when it is None."""
  x, y = fit
  if pretrained is None:
    return cnn_runs.CnnRun(key, x, y, num_classes=num_classes,
                           validation=validation, name=name)
  head_key, train_key = jax.random.split(key)
  init = cnn.with_new_head(head_key, config, pretrained, num_classes,
                           np.shape(x)[1:])
  return cnn_runs.CnnRun(train_key, x, y, init_params=init,
                         validation=validation, name=name)


class FoldPlan(NamedTuple):
  """One (seed, fold): its rows and normaliser (the fold's training rows)."""
  seed: int
  fold: int
  key: jax.Array
  train_rows: np.ndarray  # after config.train_fraction
  test_rows: np.ndarray
  fit_rows: np.ndarray  # train_rows less the validation utterances
  val_rows: np.ndarray | None
  stats: normalize.NormStats


def plan(config, fs, seeds) -> tuple[list[FoldPlan], dict[int, int]]:
  """The chosen folds of every seed, and each seed's number of folds. With
  config.train_fraction < 1 a fold keeps that share of its utterances (the
  ones experiments.train keeps); with config.val_fraction > 0 whole
  utterances are held out to pick the best epoch."""
  plans, n_folds = [], {}
  for seed in seeds:
    folds, chosen = protocol.fold_plan(config, fs, seed)
    n_folds[seed] = len(folds)
    fold_keys = protocol.keys_of(seed)[1]
    for i in chosen:
      train_rows, test_rows = folds[i]
      train_rows = splits.subsample_utterances(
          train_rows, fs.utterance, fs.label,
          float(config.train_fraction), seed + i)
      fit_rows, val_rows = train_rows, None
      if config.val_fraction > 0:
        fit_rows, val_rows = splits.validation_split(
            train_rows, fs.utterance, fs.label, config.val_fraction, seed)
      stats = normalize.fit_normalizer(fs.x, config.normalize,
                                       rows=train_rows)
      plans.append(FoldPlan(seed, i, jax.random.fold_in(fold_keys, i),
                            train_rows, test_rows, fit_rows, val_rows, stats))
  return plans, n_folds


def pretrain_all(config, src, seeds) -> dict[int, tuple[cnn.Params, dict]]:
  """seed -> (params, history) of the CNN trained on all of the source
  (its own statistics), every seed's pre-training in one batch."""
  x = normalize.apply_normalizer(
      normalize.fit_normalizer(src.x, config.normalize), src.x)
  runs = [cnn_runs.CnnRun(protocol.keys_of(s)[0], x, src.label,
                          num_classes=len(src.class_names),
                          name=f'source, seed {s}') for s in seeds]
  trained = cnn_runs.train_runs(
      config, runs, epochs=config.pretrain_epochs,
      learning_rate=config.pretrain_learning_rate or config.learning_rate)
  return dict(zip(seeds, trained))


def evaluate_fold(params, config, x_test, y_test, utterance_test,
                  num_classes: int) -> dict[str, Any]:
  """Segment- and utterance-level scores of one test fold."""
  log_probs = cnn.predict_log_probs(params, x_test, config)
  return {
      'segment': metrics.segment_scores(y_test, log_probs.argmax(1),
                                        num_classes),
      'utterance': metrics.utterance_scores(log_probs, y_test, utterance_test,
                                            num_classes),
  }


# cnn.train_cnn's per-epoch history keys -> TensorBoard tag suffixes.
EPOCH_TAGS = {'loss': 'train/loss', 'accuracy': 'train/accuracy',
              'val_accuracy': 'validation/accuracy'}
_NO_SCORES = {'utterance': {'wa': 0, 'ua': 0}, 'segment': {'wa': 0, 'ua': 0}}


def epoch_series(history: dict[str, Any]) -> dict[str, list[float]]:
  """{tag suffix: per-epoch values} of a cnn.train_cnn history."""
  return {tag: history[key] for key, tag in EPOCH_TAGS.items()
          if key in history}


def scalar_tags(n_folds: int, source: bool, validation: bool) -> list[str]:
  """Every tag a seed's run writes. Per epoch (step = epoch): with a source
  'pretrain/train/loss' and 'pretrain/train/accuracy'; per fold
  'fold_<i>/train/loss', 'fold_<i>/train/accuracy' and, with
  config.val_fraction > 0, 'fold_<i>/validation/accuracy'. At the fold's
  last epoch: 'fold_<i>/test/{wa,ua,segment_wa,segment_ua}'."""
  tags = ['pretrain/train/loss', 'pretrain/train/accuracy'] if source else []
  for i in range(n_folds):
    tags += [f'fold_{i}/{tag}' for key, tag in EPOCH_TAGS.items()
             if validation or key != 'val_accuracy']
    tags += list(tensorboard.fold_test_scalars(i, _NO_SCORES))
  return tags


def seed_dir(config, workdir: str, seed: int) -> str:
  """The workdir for a run of config.seed, `workdir/seed_<s>` with seeds."""
  if config.seeds:
    return os.path.join(workdir, f'seed_{seed}')
  return workdir


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  """Cross-validates the (pre-trained and) fine-tuned CNN over every seed;
  writes workdir, which it holds alone (experiments/lib/workdir.py). The
  config is checked before anything is written."""
  validate.check_finetune(config)
  seeds = protocol.seeds_of(config)
  # A rerun starts over, so do its TensorBoard curves (replace=True).
  with workdir_lib.exclusive(workdir), contextlib.ExitStack() as stack:
    events = {s: stack.enter_context(tensorboard.writer(
        seed_dir(config, workdir, s), jax.process_index(), replace=True))
              for s in seeds}
    return _cross_validate(config, workdir, seeds, events)


def _cross_validate(config, workdir: str, seeds, events) -> dict[str, Any]:
  start = time.perf_counter()
  fs = load_corpus(config.target, config)
  src = load_corpus(config.source, config) if config.source else None
  skipped = {'target': data.skipped_files(fs),
             'source': data.skipped_files(src) if src is not None else []}
  if config.shared_classes_only:
    fs, src = data.restrict_to_shared(fs, src)
  num_classes = len(fs.class_names)
  plans, n_folds_total = plan(config, fs, seeds)
  timings: dict[str, float] = {'load_s': time.perf_counter() - start}

  pretrained = {}
  if src is not None:
    t = time.perf_counter()
    pretrained = pretrain_all(config, src, seeds)
    timings['pretrain_s'] = time.perf_counter() - t
    for s, (_, history) in pretrained.items():
      tensorboard.write_history(events[s], epoch_series(history),
                                prefix='pretrain/')
    logging.info('pre-trained %d seed(s) on %s (%d rows) in %.1fs',
                 len(seeds), config.source, len(src), timings['pretrain_s'])

  rows_xy = lambda p, rows: (normalize.apply_normalizer(p.stats, fs.x[rows]),
                             fs.label[rows])
  runs = [fold_run(
      p.key, config, rows_xy(p, p.fit_rows),
      None if p.val_rows is None else rows_xy(p, p.val_rows),
      pretrained[p.seed][0] if pretrained else None, num_classes,
      f'fold {p.fold}, seed {p.seed}') for p in plans]
  t = time.perf_counter()
  trained = cnn_runs.train_runs(config, runs)
  timings['train_s'] = time.perf_counter() - t
  del runs

  by_seed: dict[int, list] = {s: [] for s in seeds}
  for p, (params, history) in zip(plans, trained):
    t = time.perf_counter()
    history['n_fit_rows'] = int(p.fit_rows.size)
    history['n_train_utterances'] = int(
        np.unique(fs.utterance[p.train_rows]).size)
    scores = evaluate_fold(params, config, *rows_xy(p, p.test_rows),
                           fs.utterance[p.test_rows], num_classes)
    tensorboard.write_history(events[p.seed], epoch_series(history),
                              prefix=f'fold_{p.fold}/')
    tensorboard.write_scalars(events[p.seed], len(history['loss']),
                              tensorboard.fold_test_scalars(p.fold, scores))
    by_seed[p.seed].append({
        'fold': p.fold, 'seed': p.seed, 'n_train_rows': int(p.train_rows.size),
        'n_train_utterances': history['n_train_utterances'],
        'n_test_rows': int(p.test_rows.size), **scores, 'history': history,
        # The runs trained as one batch: each gets an equal share of it.
        'train_s': timings['train_s'] / len(plans),
        'eval_s': time.perf_counter() - t,
    })
    logging.info('fold %d, seed %d: segment WA %.3f, utterance WA %.3f UA '
                 '%.3f', p.fold, p.seed, scores['segment']['wa'],
                 scores['utterance']['wa'], scores['utterance']['ua'])

  per_seed = {}
  for seed in seeds:
    results = _seed_results(config, fs, seed, n_folds_total[seed],
                            by_seed[seed],
                            pretrained[seed][1] if pretrained else None,
                            {**timings, 'total_s': time.perf_counter() - start},
                            skipped)
    finetune_report.write_outputs(seed_dir(config, workdir, seed), config, results,
                  fs.class_names)
    per_seed[seed] = results
  if not config.seeds:
    return per_seed[seeds[0]]
  overall = over_seeds(config, per_seed, skipped,
                       {**timings, 'total_s': time.perf_counter() - start})
  outputs.write_json(os.path.join(workdir, 'results.json'), overall)
  outputs.write_text(os.path.join(workdir, 'summary.md'),
                    finetune_report.seeds_markdown(overall))
  return overall


def _seed_results(config, fs, seed, n_folds_total, fold_results,
                  pretrain_history, timings, skipped) -> dict[str, Any]:
  aggregate = {level: metrics.aggregate_folds(
      [f[level] for f in fold_results]) for level in ('segment', 'utterance')}
  return {
      'method': 'finetune_cnn' if config.source else 'cnn_scratch',
      'target': config.target, 'source': config.source,
      'protocol': config.protocol, 'n_folds': len(fold_results),
      'n_folds_total': n_folds_total, 'seed': seed,
      'class_names': list(fs.class_names), 'n_rows': len(fs),
      'n_utterances': int(np.unique(fs.utterance).size),
      'device': str(jax.devices()[0].platform),
      'batching': cnn_runs.batching_mode(config),
      'config': config.to_dict(), 'folds': fold_results,
      'aggregate': aggregate, 'pretrain_history': pretrain_history,
      'timings': timings, 'skipped_files': skipped,
  }


def over_seeds(config, per_seed, skipped, timings) -> dict[str, Any]:
  """The workdir's results.json for several seeds: each seed's aggregate
  (its full results in seed_<s>/results.json) and their mean."""
  def mean(level, key):
    return float(np.mean([r['aggregate'][level][key + '_mean']
                          for r in per_seed.values()]))
  first = next(iter(per_seed.values()))
  return {
      'method': first['method'], 'target': config.target,
      'source': config.source, 'protocol': config.protocol,
      'seeds': list(per_seed),
      'per_seed': {str(s): {'results': f'seed_{s}/results.json',
                            'aggregate': r['aggregate']}
                   for s, r in per_seed.items()},
      'mean_over_seeds': {lvl: {k: mean(lvl, k) for k in ('wa', 'ua')}
                          for lvl in ('segment', 'utterance')},
      'config': config.to_dict(), 'timings': timings,
      'skipped_files': skipped,
  }
