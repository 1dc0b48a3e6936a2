"""Test-time ensembles of the final population's fittest pathways.

The paper scores one pathway, the best one of the run. The final population
holds S pathways trained on the same shared modules, so averaging the class
probabilities of the k fittest distinct ones is an ensemble that costs no
training, only k forward passes at test time.

NumPy only: this runs once per fold, on host arrays.
"""
from __future__ import annotations

import numpy as np


def _modules(genotype: np.ndarray) -> tuple[tuple[int, ...], ...]:
  """The modules a genotype [L, N] activates per layer (order and repeats of
  its slots do not change the pathway)."""
  return tuple(tuple(sorted(set(layer.tolist()))) for layer in genotype)


def fittest_distinct(genotypes: np.ndarray, fitness: np.ndarray, k: int,
                     best: np.ndarray | None = None) -> np.ndarray:
  """int32[k', L, N], k' <= k: the ensemble's pathways.

  Args:
    genotypes: int32[S, L, N], the final population.
    fitness: float[S], their fitness (ties keep population order). Measure
      it on the final weights: the GA's stored fitness of a mutated loser is
      its winner's.
    k: the ensemble's size; 1 gives `best` alone (the paper).
    best: int32[L, N], the run's best pathway, taken first when given (it
      may have left the population).

  Pathways that activate the same modules as one already taken are skipped,
  so k' < k when the population has converged to fewer distinct pathways.
  """
  if k < 1:
    raise ValueError(f'ensemble size must be >= 1, got {k}')
  genotypes = np.asarray(genotypes, np.int32)
  fitness = np.asarray(fitness, np.float64)
  if genotypes.ndim != 3 or fitness.shape != genotypes.shape[:1]:
    raise ValueError(f'genotypes [S, L, N] {genotypes.shape} and fitness [S] '
                     f'{fitness.shape} do not match')
  order = np.argsort(-fitness, kind='stable')
  candidates = ([np.asarray(best, np.int32)] if best is not None else []) + [
      genotypes[i] for i in order]
  taken, seen = [], set()
  for g in candidates:
    key = _modules(g)
    if key not in seen:
      seen.add(key)
      taken.append(g)
    if len(taken) == k:
      break
  return np.stack(taken)


def mean_probability(log_probs: np.ndarray) -> np.ndarray:
  """float[n, C]: log of the members' mean class probability.

  Args:
    log_probs: float[k, n, C], each member's log-probabilities.
  """
  log_probs = np.asarray(log_probs)
  if log_probs.ndim != 3 or log_probs.shape[0] == 0:
    raise ValueError(f'expected [k >= 1, n, C] log-probabilities, got '
                     f'{log_probs.shape}')
  if log_probs.shape[0] == 1:  # one member: its own scores, dtype and all
    return log_probs[0]
  log_probs = log_probs.astype(np.float64)
  top = log_probs.max(axis=0)
  return top + np.log(np.exp(log_probs - top).mean(axis=0))
