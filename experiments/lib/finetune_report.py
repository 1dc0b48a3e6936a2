"""What the fine-tuning CNN's protocol writes: results.json, confusion.png and
summary.md per seed (through experiments/lib/outputs.py, the one writer), and
the several-seed summary."""
from __future__ import annotations

import os
from typing import Any

from experiments.lib import data
from experiments.lib import outputs
from experiments.lib import plots
from experiments.lib import workdir as workdir_lib


def write_outputs(directory: str, config, results, class_names) -> None:
  """results.json, confusion.png (utterance level, folds summed), summary.md."""
  outputs.write_json(os.path.join(directory, 'results.json'), results)
  source = f'{config.source} → ' if config.source else ''
  workdir_lib.write_atomically(
      os.path.join(directory, 'confusion.png'),
      lambda tmp: plots.plot_confusion(
          results['aggregate']['utterance']['confusion'], class_names, tmp,
          f'CNN {source}{config.target}, {config.protocol}, seed '
          f"{results['seed']}: utterance level, folds summed"))
  outputs.write_text(os.path.join(directory, 'summary.md'),
                    summary_markdown(results))


def summary_markdown(results: dict[str, Any]) -> str:
  """A short markdown report of one seed's results."""
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


def seeds_markdown(overall: dict[str, Any]) -> str:
  """summary.md of a several-seed workdir (outputs.seeds_markdown)."""
  return outputs.seeds_markdown(
      overall, title=f"CNN baseline: {overall['method']}, "
      f"{overall['source'] + ' → ' if overall['source'] else ''}"
      f"{overall['target']}", link_seeds=True)
