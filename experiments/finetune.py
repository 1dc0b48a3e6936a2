r"""The fine-tuning baseline the paper compares with (Zhang et al. 2018).

An AlexNet-like CNN on 3-channel log-mel segments. No ImageNet weights can be
downloaded here, so pre-training on a source corpus takes their place; then
ALL layers are fine-tuned on the target corpus with a new head. Without a
source the CNN trains from scratch.

Usage:
  python -m experiments.finetune --config=experiments/configs/finetune.py \
      --workdir=runs/finetune

Writes to the workdir: results.json (per-fold and aggregated segment- and
utterance-level WA/UA, per-class recall, confusion, config, timings, the
corpus files skipped under config.on_error='skip'),
confusion.png (utterance level, summed over folds), summary.md and
TensorBoard events in tensorboard/ (`scalar_tags` lists them).
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, NamedTuple, Sequence

from absl import flags
from absl import logging
import jax
import numpy as np
from ml_collections import config_flags

from experiments.lib import cli
from experiments.lib import cnn
from experiments.lib import data
from experiments.lib import normalize
from experiments.lib import plots
from experiments.lib import splits
from experiments.lib import tensorboard
from experiments.lib import workdir as workdir_lib
from pathnet_jax import metrics


def load_corpus(name: str, config):
  """FeatureSet for a corpus spec, exactly as experiments.train reads it:
  'synthetic', 'emodb', 'emodb:sex=f', pooled 'enterface+savee', a .npz."""
  return data.load_corpus(name, config)


class FinetuneResult(NamedTuple):
  params: cnn.Params  # fine-tuned on the target
  pretrained: cnn.Params  # after source pre-training (source head)
  history: dict[str, Any]  # {'pretrain': ..., 'finetune': ...}


def pretrain(key, config, x, y, num_classes: int):
  """Trains the CNN from scratch on the (normalised) source: (params, hist)."""
  lr = config.pretrain_learning_rate or config.learning_rate
  return cnn.train_cnn(key, config, x, y, num_classes=num_classes,
                       epochs=config.pretrain_epochs, learning_rate=lr)


def finetune(key, config, pretrained, x, y, num_classes: int,
             validation=None):
  """New head on the pretrained body, then every layer trained on the target."""
  head_key, train_key = jax.random.split(key)
  init = cnn.with_new_head(head_key, config, pretrained, num_classes,
                           np.shape(x)[1:])
  return cnn.train_cnn(train_key, config, x, y, init,
                       validation=validation)


def pretrain_then_finetune(key, config, source, target,
                           num_classes: tuple[int, int] | None = None
                           ) -> FinetuneResult:
  """Source pre-training replaces ImageNet; then all layers tune on target.

  Args:
    key: jax.random key.
    config: finetune config.
    source: (x [n_s, H, W, C], y [n_s]) normalised source rows.
    target: (x [n_t, H, W, C], y [n_t]) normalised target training rows.
    num_classes: (source, target) class counts; default max label + 1.

  Returns:
    FinetuneResult(params, pretrained, history).
  """
  if num_classes is None:
    num_classes = (int(np.max(source[1])) + 1, int(np.max(target[1])) + 1)
  pre_key, fine_key = jax.random.split(key)
  pretrained, pre_hist = pretrain(pre_key, config, *source, num_classes[0])
  params, fine_hist = finetune(fine_key, config, pretrained, *target,
                               num_classes[1])
  return FinetuneResult(params, pretrained,
                        {'pretrain': pre_hist, 'finetune': fine_hist})


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


def train_fold(key, config, fs, train_rows, pretrained=None, fold: int = 0):
  """Trains on one fold's training rows, normalised with their statistics.

  Fine-tunes `pretrained` (new head, all layers) when given, else trains from
  scratch. With config.val_fraction > 0, whole utterances of the training rows
  are held out to pick the best epoch. With config.train_fraction < 1 only
  that share of the fold's utterances is used (learning curves; the same
  utterances as experiments.train keeps for fold `fold`).

  Returns:
    (params, history, normaliser statistics).
  """
  train_rows = splits.subsample_utterances(
      train_rows, fs.utterance, fs.label,
      float(config.get('train_fraction', 1.0)), config.seed + fold)
  stats = normalize.fit_normalizer(fs.x, config.normalizer, rows=train_rows)
  rows_xy = lambda rows: (normalize.apply_normalizer(stats, fs.x[rows]),
                          fs.label[rows])
  fit_rows, validation = train_rows, None
  if config.val_fraction > 0:
    fit_rows, val_rows = splits.validation_split(
        train_rows, fs.utterance, fs.label, config.val_fraction, config.seed)
    validation = rows_xy(val_rows)
  num_classes = len(fs.class_names)
  if pretrained is None:
    params, history = cnn.train_cnn(key, config, *rows_xy(fit_rows),
                                    num_classes=num_classes,
                                    validation=validation)
  else:
    params, history = finetune(key, config, pretrained, *rows_xy(fit_rows),
                               num_classes, validation)
  history['n_fit_rows'] = int(fit_rows.size)
  history['n_train_utterances'] = int(np.unique(fs.utterance[train_rows]).size)
  return params, history, stats


# cnn.train_cnn's per-epoch history keys -> TensorBoard tag suffixes.
EPOCH_TAGS = {'loss': 'train/loss', 'accuracy': 'train/accuracy',
              'val_accuracy': 'validation/accuracy'}


def epoch_series(history: dict[str, Any]) -> dict[str, list[float]]:
  """{tag suffix: per-epoch values} of a cnn.train_cnn history."""
  return {tag: history[key] for key, tag in EPOCH_TAGS.items()
          if key in history}


_NO_SCORES = {'utterance': {'wa': 0, 'ua': 0}, 'segment': {'wa': 0, 'ua': 0}}


def scalar_tags(n_folds: int, source: bool, validation: bool) -> list[str]:
  """Every tag a run writes. Per epoch (step = epoch): with a source
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


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  """Cross-validates the (pre-trained and) fine-tuned CNN; writes workdir,
  which it holds alone (experiments/lib/workdir.py) while it runs."""
  # A rerun starts over, so do its TensorBoard curves (replace=True).
  with workdir_lib.exclusive(workdir), tensorboard.writer(
      workdir, jax.process_index(), replace=True) as events:
    return _cross_validate(config, workdir, events)


def _cross_validate(config, workdir: str, events: tensorboard.Writer
                    ) -> dict[str, Any]:
  start = time.perf_counter()
  pretrain_key, folds_key = jax.random.split(jax.random.key(config.seed))
  fs = load_corpus(config.target, config)
  src = load_corpus(config.source, config) if config.source else None
  skipped = {'target': data.skipped_files(fs),
             'source': data.skipped_files(src) if src is not None else []}
  if config.get('shared_classes_only', False):
    if src is None:
      raise ValueError('config.shared_classes_only needs config.source')
    fs, src = data.restrict_to_shared(fs, src)
  num_classes = len(fs.class_names)
  folds = splits.make_folds(config.protocol, fs, config.n_splits, config.seed)
  n_folds_total = len(folds)
  if config.max_folds:
    folds = folds[:config.max_folds]
  timings: dict[str, float] = {'load_s': time.perf_counter() - start}

  pretrained, pretrain_history = None, None
  if config.source:
    t = time.perf_counter()
    # The source is all training data: its own statistics.
    src_x = normalize.apply_normalizer(
        normalize.fit_normalizer(src.x, config.normalizer), src.x)
    pretrained, pretrain_history = pretrain(pretrain_key, config, src_x,
                                           src.label, len(src.class_names))
    del src_x
    tensorboard.write_history(events, epoch_series(pretrain_history),
                              prefix='pretrain/')
    timings['pretrain_s'] = time.perf_counter() - t
    logging.info('pre-trained on %s (%d rows) in %.1fs', config.source,
                 len(src), timings['pretrain_s'])

  fold_results = []
  for i, (train_rows, test_rows) in enumerate(folds):
    t = time.perf_counter()
    params, history, stats = train_fold(jax.random.fold_in(folds_key, i),
                                        config, fs, train_rows, pretrained,
                                        fold=i)
    train_s = time.perf_counter() - t
    scores = evaluate_fold(params, config,
                           normalize.apply_normalizer(stats, fs.x[test_rows]),
                           fs.label[test_rows], fs.utterance[test_rows],
                           num_classes)
    tensorboard.write_history(events, epoch_series(history),
                              prefix=f'fold_{i}/')
    tensorboard.write_scalars(events, len(history['loss']),
                              tensorboard.fold_test_scalars(i, scores))
    fold_results.append({
        'fold': i, 'n_train_rows': int(train_rows.size),
        'n_train_utterances': history['n_train_utterances'],
        'n_test_rows': int(test_rows.size), **scores, 'history': history,
        'train_s': train_s, 'eval_s': time.perf_counter() - t - train_s,
    })
    logging.info('fold %d/%d: segment WA %.3f, utterance WA %.3f UA %.3f '
                 '(%.1fs)', i + 1, len(folds), scores['segment']['wa'],
                 scores['utterance']['wa'], scores['utterance']['ua'],
                 train_s)

  aggregate = {level: metrics.aggregate_folds(
      [f[level] for f in fold_results]) for level in ('segment', 'utterance')}
  timings['total_s'] = time.perf_counter() - start
  results = {
      'method': 'finetune_cnn' if config.source else 'cnn_scratch',
      'target': config.target, 'source': config.source,
      'protocol': config.protocol, 'n_folds': len(folds),
      'n_folds_total': n_folds_total, 'seed': config.seed,
      'class_names': list(fs.class_names), 'n_rows': len(fs),
      'n_utterances': int(np.unique(fs.utterance).size),
      'device': str(jax.devices()[0].platform),
      'config': config.to_dict(), 'folds': fold_results,
      'aggregate': aggregate, 'pretrain_history': pretrain_history,
      'timings': timings, 'skipped_files': skipped,
  }
  def write_results(tmp):
    with open(tmp, 'w') as f:
      json.dump(metrics.jsonable(results), f, indent=1)

  def write_summary(tmp):
    with open(tmp, 'w') as f:
      f.write(summary_markdown(results))

  workdir_lib.write_atomically(os.path.join(workdir, 'results.json'),
                               write_results)
  workdir_lib.write_atomically(
      os.path.join(workdir, 'confusion.png'),
      lambda tmp: plots.plot_confusion(
          aggregate['utterance']['confusion'], fs.class_names, tmp,
          _title(config, 'utterance level, folds summed')))
  workdir_lib.write_atomically(os.path.join(workdir, 'summary.md'),
                               write_summary)
  return results


def _title(config, what: str) -> str:
  source = f'{config.source} → ' if config.source else ''
  return f'CNN {source}{config.target}, {config.protocol}: {what}'


def summary_markdown(results: dict[str, Any]) -> str:
  """A short markdown report of `train_and_evaluate` results."""
  agg = results['aggregate']
  lines = [
      f"# CNN baseline: {results['method']}, "
      f"{results['source'] + ' → ' if results['source'] else ''}"
      f"{results['target']}",
      '',
      f"Protocol {results['protocol']}, {results['n_folds']} of "
      f"{results['n_folds_total']} folds, seed {results['seed']}, "
      f"{results['n_rows']} segments / {results['n_utterances']} utterances, "
      f"device {results['device']}, {results['timings']['total_s']:.0f} s.",
      '',
  ]
  note = data.skipped_note(results.get('skipped_files', {}))
  lines += [note, ''] if note else []
  lines += ['| level | WA | UA |', '|---|---|---|']
  for level in ('segment', 'utterance'):
    a = agg[level]
    lines.append(f"| {level} | {a['wa_mean']:.3f} ± {a['wa_std']:.3f} | "
                 f"{a['ua_mean']:.3f} ± {a['ua_std']:.3f} |")
  lines += ['', 'Per-class recall (utterance level, mean over folds):', '',
            '| class | recall |', '|---|---|']
  for name, r in zip(results['class_names'],
                     agg['utterance']['per_class_recall_mean']):
    lines.append(f'| {name} | {r:.3f} |')
  return '\n'.join(lines) + '\n'


def define_flags() -> None:
  """Flags are defined when run as a binary, not on import, so tests can
  import this module beside other binaries that also define --config."""
  config_flags.DEFINE_config_file(
      'config', None, 'Path to an ml_collections config file.',
      lock_config=True)
  flags.DEFINE_string('workdir', None, 'Output directory.')
  flags.mark_flags_as_required(['config', 'workdir'])


def main(argv: Sequence[str]) -> None:
  del argv
  # User errors become one `error:` line in cli.run.
  results = train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)
  print(summary_markdown(results))


if __name__ == '__main__':
  cli.run(main, define_flags)
