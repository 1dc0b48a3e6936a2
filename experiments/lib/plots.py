"""Figures for results: confusion matrices, GA fitness and learning curves.

Uses matplotlib's Agg backend (no display needed); every function writes one
file and closes its figure.
"""
from __future__ import annotations

import os
import textwrap
from typing import Mapping, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


def row_normalise(confusion) -> np.ndarray:
  """[C, C] counts -> [C, C] row fractions (rows of zeros stay zero)."""
  confusion = np.asarray(confusion, dtype=np.float64)
  totals = confusion.sum(axis=1, keepdims=True)
  return np.divide(confusion, totals, out=np.zeros_like(confusion),
                   where=totals > 0)


def plot_confusion(confusion, class_names: Sequence[str], path: str,
                   title: str = '') -> None:
  """Row-normalised confusion matrix with class names and values in cells.

  Args:
    confusion: [C, C] counts, rows = true class, columns = predicted class.
    class_names: C names.
    path: output image file (format from its extension).
    title: figure title.
  """
  frac = row_normalise(confusion)
  c = frac.shape[0]
  size = max(4.0, 0.7 * c + 2.0)
  fig, ax = plt.subplots(figsize=(size, size))
  ax.imshow(frac, cmap='Blues', vmin=0.0, vmax=1.0)
  ax.set_xticks(range(c), class_names, rotation=45, ha='right')
  ax.set_yticks(range(c), class_names)
  ax.set_xlabel('predicted')
  ax.set_ylabel('true')
  for i in range(c):
    for j in range(c):
      ax.text(j, i, f'{frac[i, j]:.2f}', ha='center', va='center',
              color='white' if frac[i, j] > 0.5 else 'black', fontsize=8)
  if title:  # wrapped: long corpus specs would run off the figure
    ax.set_title('\n'.join(textwrap.wrap(title, int(12 * size))), fontsize=10)
  fig.tight_layout()
  _save(fig, path)


def plot_fitness(histories: Mapping[str, Mapping[str, Sequence[float]]],
                 path: str, title: str = '',
                 ylabel: str = 'fitness (training accuracy)') -> None:
  """Best and mean fitness per generation, one line pair per phase.

  Args:
    histories: phase name (e.g. 'source', 'target') -> {'best': [G],
      'mean': [G]} fitness per generation; optionally 'tournament' (the
      tournament pathways' fitness) and 'train' (their training accuracy,
      beside a held-out fitness), drawn thinner.
    path: output image file.
    title: figure title.
    ylabel: what the fitness is (outputs.fitness_label).
  """
  fig, ax = plt.subplots(figsize=(6, 4))
  styles = {'best': ('-', 'best', 1.5), 'mean': ('--', 'mean', 1.5),
            'tournament': ('-.', 'tournament', 0.8),
            'train': (':', 'tournament, training accuracy', 1.2)}
  for i, (phase, hist) in enumerate(histories.items()):
    for key, (style, name, width) in styles.items():
      if key in hist:
        ax.plot(np.asarray(hist[key]), color=f'C{i}', linestyle=style,
                linewidth=width, label=f'{phase} {name}')
  ax.set_xlabel('generation')
  ax.set_ylabel(ylabel)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  if title:
    ax.set_title(title)
  fig.tight_layout()
  _save(fig, path)


def plot_learning_curves(
    curves: Mapping[str, Mapping[str, Sequence[float]]], path: str,
    title: str = '', ylabel: str = 'utterance UA',
    xlabel: str = 'training utterances per fold') -> None:
  """Score against training-set size (or SGD steps: xlabel), one line (with
  ±std band) per method.

  Args:
    curves: method label -> {'x': [k] training utterances (or fractions),
      'mean': [k] scores, 'std': [k]}.
    path: output image file.
    title: figure title.
    ylabel: what the scores are.
  """
  fig, ax = plt.subplots(figsize=(6, 4))
  for i, (label, c) in enumerate(curves.items()):
    order = np.argsort(c['x'])
    x = np.asarray(c['x'], float)[order]
    mean = np.asarray(c['mean'], float)[order]
    std = np.asarray(c['std'], float)[order]
    ax.plot(x, mean, marker='o' if x.size <= 20 else None, color=f'C{i}',
            label=label)
    ax.fill_between(x, mean - std, mean + std, color=f'C{i}', alpha=0.15)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  if title:
    ax.set_title('\n'.join(textwrap.wrap(title, 60)), fontsize=10)
  fig.tight_layout()
  _save(fig, path)


def plot_pathway_map(occupancy, best_genotype, path: str, frozen=None,
                     title: str = '') -> None:
  """The L x M module grid PathNet users know from Fernando et al. (2017):
  the heat is the share of the population that held each module, averaged
  over the generations; the best pathway's modules are outlined; frozen
  source modules of a transfer are hatched.

  Args:
    occupancy: [L, M] shares in [0, 1].
    best_genotype: int[L, N] module indices of the best pathway.
    path: output image file.
    frozen: optional bool[L, M].
    title: figure title.
  """
  occupancy = np.asarray(occupancy, np.float64)
  num_layers, num_modules = occupancy.shape
  width = max(7.0, 0.36 * num_modules + 2.5)
  fig, ax = plt.subplots(figsize=(width, 0.45 * num_layers + 1.8))
  image = ax.imshow(occupancy, cmap='viridis', vmin=0.0, vmax=1.0,
                    aspect='equal')
  for l, row in enumerate(np.asarray(best_genotype)):
    for m in sorted(set(int(v) for v in row)):
      ax.add_patch(plt.Rectangle((m - 0.5, l - 0.5), 1, 1, fill=False,
                                 edgecolor='red', linewidth=2.0))
  if frozen is not None:
    for l, m in zip(*np.nonzero(np.asarray(frozen, bool))):
      ax.add_patch(plt.Rectangle((m - 0.5, l - 0.5), 1, 1, fill=False,
                                 edgecolor='white', hatch='//',
                                 linewidth=0.0))
  ax.set_xticks(range(num_modules))
  ax.set_yticks(range(num_layers), [f'layer {l + 1}'
                                    for l in range(num_layers)])
  ax.tick_params(axis='x', labelsize=7)
  ax.set_xlabel('module; red: best pathway' + (
      ', hatched: frozen source modules' if frozen is not None else ''),
                fontsize=9)
  fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01, aspect=8,
               label='share of\npopulation')
  if title:
    ax.set_title('\n'.join(textwrap.wrap(title, int(9 * width))),
                 fontsize=9)
  fig.tight_layout()
  _save(fig, path)


def plot_loglog(series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                xlabel: str, path: str, title: str = '') -> None:
  """name -> (x, y) as lines with markers on log-log axes (cost growth)."""
  fig, ax = plt.subplots(figsize=(5.5, 4))
  for name, (x, y) in series.items():
    ax.loglog(x, y, marker='o', label=name)
  ax.set_xlabel(xlabel)
  ax.grid(True, which='both', alpha=0.3)
  ax.legend()
  if title:
    ax.set_title(title)
  _save(fig, path)


def _save(fig, path: str) -> None:
  if os.path.dirname(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, dpi=120)
  plt.close(fig)
