"""Item 4 'transfer': PathNet transfer against the fine-tuning CNN on the
same fold (source: male speakers, target: female speakers)."""
from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from data_prep import store
from experiments.benchmarks import common
from experiments.configs import finetune as finetune_config
from experiments.lib import cnn
from experiments.lib import finetune
from experiments.lib import normalize
from pathnet_jax import evolve
from pathnet_jax import metrics
from pathnet_jax import pathway
from pathnet_jax import train as train_lib
from pathnet_jax import transfer


def bench_transfer(sizes: common.Sizes, fs: store.FeatureSet) -> dict[str, Any]:
  """Source = male speakers, target = female speakers (fold 0 of the target).

  Both methods see the same rows: the source set whole, the target fold's
  training rows, and are scored on the target fold's test rows.
  """
  src_rows = np.flatnonzero(fs.sex == 'm')
  tgt = store.select(fs, np.flatnonzero(fs.sex == 'f'))
  src_stats = normalize.fit_normalizer(fs.x[src_rows], 'pixel')
  xs = normalize.apply_normalizer(src_stats, fs.x[src_rows])
  ys = fs.label[src_rows]
  x, y, x_test, y_test, utt_test = common.normalized_fold(tgt, sizes.n_folds)
  c = len(fs.class_names)

  def scores(log_probs):
    return {'segment_wa': metrics.segment_scores(
        y_test, log_probs.argmax(1), c)['wa'],
            'utterance_wa': metrics.utterance_scores(
                log_probs, y_test, utt_test, c)['wa']}

  cfg = common.pathnet_config(sizes, generations=sizes.transfer_generations)
  t0 = time.perf_counter()
  src = evolve.evolve(jax.random.key(0), cfg, xs, ys, num_classes=c)
  frozen, params = transfer.freeze(src.params, src.best_genotype, cfg,
                                   key=jax.random.key(1), num_classes=c)
  tgt_run = evolve.evolve(jax.random.key(2), cfg, x, y, frozen=frozen,
                          init_params=params, num_classes=c)
  idx, w = pathway.slots(jnp.asarray(tgt_run.best_genotype),
                         *(tgt_run.frozen_slots or (None, None)))
  lp = np.asarray(train_lib.log_probs(tgt_run.params, idx, w,
                                      jnp.asarray(x_test)))
  pathnet = {'method': 'PathNet transfer', 'wall_s': time.perf_counter() - t0,
             'budget': f'{sizes.transfer_generations} generations on source '
                       f'and on target (paper: 200)', **scores(lp)}

  fcfg = finetune_config.get_config(sizes.finetune_preset)
  fcfg.epochs = fcfg.pretrain_epochs = sizes.cnn_epochs
  t0 = time.perf_counter()
  result = finetune.pretrain_then_finetune(jax.random.key(3), fcfg, (xs, ys),
                                           (x, y), (c, c))
  lp = cnn.predict_log_probs(result.params, x_test, fcfg)
  cnn_row = {'method': 'fine-tuned CNN', 'wall_s': time.perf_counter() - t0,
             'budget': f'{sizes.cnn_epochs} epochs pre-training + '
                       f'{sizes.cnn_epochs} fine-tuning', **scores(lp)}
  return {'source': 'male speakers', 'target': 'female speakers, fold 0',
          'n_source': int(src_rows.size), 'n_train': int(x.shape[0]),
          'n_test': int(x_test.shape[0]), 'rows': [pathnet, cnn_row]}


def run(ctx: common.Context) -> dict[str, Any]:
  """On --features, else Gaussian blobs (quick) or the synthetic corpus."""
  fs = ctx.fs
  if fs is None:
    fs = (common.blob_features(ctx.sizes, 96) if ctx.quick
          else common.synthetic_corpus())
  return bench_transfer(ctx.sizes, fs)


def markdown(t: dict[str, Any]) -> list[str]:
  """The item's section of the report."""
  out = [f"### 4. Transfer {t['source']} → {t['target']} "
         f"({t['n_source']} source, {t['n_train']} train, {t['n_test']} "
         'test rows)', '',
         '| method | budget | segment WA | utterance WA | wall s |',
         '|---|---|---|---|---|']
  for r in t['rows']:
    out.append(f"| {r['method']} | {r['budget']} | {r['segment_wa']:.3f} | "
               f"{r['utterance_wa']:.3f} | {r['wall_s']:.1f} |")
  out.append('')
  return out
