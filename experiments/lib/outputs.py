"""What an experiment leaves behind, written by process 0 only and each file
atomically (a crash never leaves half a file): JSON and text files,
results.json + summary.md + figures of a run, the model folder
experiments.predict reads, and the git commit that produced them."""
from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import jax
import numpy as np

from experiments.lib import data
from experiments.lib import normalize
from experiments.lib import plots
from experiments.lib import views
from experiments.lib import workdir as workdir_lib
from pathnet_jax import checkpoint as ckpt_lib
from pathnet_jax import generation as gen_lib
from pathnet_jax import metrics


def is_writer() -> bool:
  """Only process 0 writes results, summaries, plots and model/: with several
  hosts on one shared workdir every process would otherwise write each file."""
  return jax.process_index() == 0


def write_json(path: str, obj, indent: int | None = 1) -> None:
  """`obj` (numpy values made plain) as JSON, on process 0."""
  def write(tmp):
    with open(tmp, 'w') as f:
      json.dump(metrics.jsonable(obj), f, indent=indent)
  if is_writer():
    workdir_lib.write_atomically(path, write)


def write_text(path: str, text: str) -> None:
  """`text` into `path`, on process 0."""
  def write(tmp):
    with open(tmp, 'w') as f:
      f.write(text)
  if is_writer():
    workdir_lib.write_atomically(path, write)


def git_commit() -> str:
  """The commit of this checkout, or 'unknown' outside git."""
  try:
    return subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True,
                          text=True, check=True,
                          cwd=os.path.dirname(__file__)).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'


def save_model(model_dir, config, params, genotype, frozen_slots, stats,
               class_names) -> None:
  """What predict needs: parameters, pathway (int32[L, N], or [k, L, N]
  for an ensemble), normaliser, class names.

  Every process calls this: orbax saves the (replicated) parameters as one
  copy from the primary host; the plain files come from process 0 only.
  """
  os.makedirs(model_dir, exist_ok=True)
  if not is_writer():
    ckpt_lib.save_pytree(os.path.join(model_dir, 'params'), params)
    return
  # predict shares this lock while it reads, so it never sees new params
  # beside an old meta.json (or a folder half replaced).
  with workdir_lib.locked(os.path.join(model_dir, workdir_lib.MODEL_LOCK_NAME),
                          shared=False, wait_s=float('inf')):
    _write_model_files(model_dir, config, params, genotype, frozen_slots,
                       stats, class_names)


def _write_model_files(model_dir, config, params, genotype, frozen_slots,
                       stats, class_names) -> None:
  """stats: the segment normaliser, or (segment, functionals) normalisers
  (either may be None) of a view (experiments/lib/views.py)."""
  ckpt_lib.save_pytree(os.path.join(model_dir, 'params'), params)
  seg_stats, func_stats = (
      (stats, None) if isinstance(stats, normalize.NormStats) else stats)
  for name, st in (('normalizer.npz', seg_stats),
                   ('functionals_normalizer.npz', func_stats)):
    if st is not None:
      workdir_lib.write_atomically(
          os.path.join(model_dir, name),
          lambda tmp, st=st: np.savez(tmp, mode=st.mode, mean=st.mean,
                                      std=st.std))
  feature_set = views.of(config).functionals
  meta = {'genotype': np.asarray(genotype).tolist(),
          'frozen_slots': (None if frozen_slots is None else
                           [np.asarray(a).tolist() for a in frozen_slots]),
          'class_names': list(class_names),
          'feature_params': data.feature_params(
              config.modality, data.spec_faces(config.target, config)),
          'functionals_params': None if feature_set is None else
                                data.functionals_params(feature_set),
          'config': config.to_dict()}
  write_json(os.path.join(model_dir, 'meta.json'), meta)


def summary_markdown(results: dict[str, Any]) -> str:
  """summary.md of one seed's results.json."""
  agg = results['aggregate']
  fmt = lambda d, k: f"{d[k + '_mean']:.3f} ± {d[k + '_std']:.3f}"
  sources = results['sources']
  lines = [
      f"# {results['task']}: {sources or ''}"
      f"{' → ' if sources else ''}{results['target']}",
      '', f"protocol `{results['protocol']}`, {results['n_folds']} of "
      f"{results['n_folds_total']} folds, seed {results['seed']}, "
      f"{results['config']['evolution']['generations']} generations", '',
      '| level | WA | UA |', '|---|---|---|',
      f"| utterance | {fmt(agg['utterance'], 'wa')} | "
      f"{fmt(agg['utterance'], 'ua')} |",
      f"| segment | {fmt(agg['segment'], 'wa')} | {fmt(agg['segment'], 'ua')} |",
      '', f"wall time {results['timings']['total_s']:.0f} s", '']
  note = data.skipped_note(results['skipped_files'])
  return '\n'.join(lines + ([note, ''] if note else []))


def seeds_markdown(overall: dict[str, Any], title: str | None = None,
                   link_seeds: bool = False) -> str:
  """summary.md of a several-seed workdir: a row per seed and their mean
  (`title`: the heading, default task: target; `link_seeds`: each seed links
  to its seed_<s>/summary.md)."""
  title = title or f"{overall['task']}: {overall['target']}"
  lines = [f"# {title}", '',
           f"protocol `{overall['protocol']}`, seeds "
           f"{', '.join(map(str, overall['seeds']))}", '',
           '| seed | utterance WA | utterance UA | segment WA |',
           '|---|---|---|---|']
  for seed, r in overall['per_seed'].items():
    agg = r['aggregate']
    cell = f'[{seed}](seed_{seed}/summary.md)' if link_seeds else f'{seed}'
    lines.append(f"| {cell} | {agg['utterance']['wa_mean']:.3f} | "
                 f"{agg['utterance']['ua_mean']:.3f} | "
                 f"{agg['segment']['wa_mean']:.3f} |")
  m = overall['mean_over_seeds']
  lines += [f"| mean | {m['utterance']['wa']:.3f} | {m['utterance']['ua']:.3f}"
            f" | {m['segment']['wa']:.3f} |", '',
            f"wall time {overall['timings']['total_s']:.0f} s", '']
  note = data.skipped_note(overall['skipped_files'])
  return '\n'.join(lines + ([note, ''] if note else []))


def fitness_label(config) -> str:
  """What a run's fitness curve shows: the paper's training accuracy, or
  accuracy (or negated loss) on rows held out from training (speakers or
  utterances, config.fitness)."""
  if config.fitness == 'train':
    return 'fitness (training accuracy)'
  if config.evolution.fitness_metric == 'loss':
    return 'fitness (-held-out loss)'
  return 'fitness (held-out accuracy)'


def fitness_curves(history, config) -> dict[str, Any]:
  """plots.plot_fitness's lines of one evolution's history: the
  population's best and mean fitness and, beside a held-out accuracy, the
  tournament pathways' held-out and training accuracy (not beside a
  held-out loss: another scale)."""
  curves = {'best': history['best_fitness'], 'mean': history['mean_fitness']}
  if (gen_lib.TRAIN_ACCURACY in history
      and config.evolution.fitness_metric == 'accuracy'):
    curves.update(tournament=history['tournament_fitness'],
                  train=history[gen_lib.TRAIN_ACCURACY])
  return curves


def write_results(workdir, config, results, class_names) -> None:
  """A seed's results.json, summary.md and figures (confusion.png,
  fitness.png), each written atomically, on process 0."""
  if not is_writer():
    return
  write_json(os.path.join(workdir, 'results.json'), results)
  write_text(os.path.join(workdir, 'summary.md'), summary_markdown(results))
  workdir_lib.write_atomically(
      os.path.join(workdir, 'confusion.png'),
      lambda tmp: plots.plot_confusion(
          np.asarray(results['aggregate']['utterance']['confusion']),
          class_names, tmp,
          f'{config.target} ({config.protocol}), utterance level'))
  curves = {f'target fold {s["fold"]}': fitness_curves(s['history'], config)
            for s in results['folds'][:1]}
  source_history = results['source_history']
  if source_history is not None:
    curves = {'source': fitness_curves(source_history, config), **curves}
  workdir_lib.write_atomically(os.path.join(workdir, 'fitness.png'),
                               lambda tmp: plots.plot_fitness(
                                   curves, tmp, ylabel=fitness_label(config)))
  first = results['folds'][0] if results['folds'] else None
  if first is not None and 'module_occupancy' in first:
    workdir_lib.write_atomically(
        os.path.join(workdir, PATHWAY_MAP), lambda tmp: plots.plot_pathway_map(
            first['module_occupancy'], first['best_genotype'], tmp,
            first.get('frozen_modules'), pathway_map_title(config, first)))


# Beside fitness.png: the pathway map of the seed's first fold.
PATHWAY_MAP = 'pathway_map.png'


def pathway_map_title(config, fold) -> str:
  return (f'{config.target}, fold {fold["fold"]}: modules held by the '
          f'population over {fold["generations_run"]} generations '
          f'({config.method})')


def write_seeds_results(workdir, overall) -> None:
  """results.json and summary.md of a several-seed workdir, on process 0."""
  write_json(os.path.join(workdir, 'results.json'), overall)
  write_text(os.path.join(workdir, 'summary.md'), seeds_markdown(overall))
