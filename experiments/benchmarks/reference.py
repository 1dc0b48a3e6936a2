r"""The sequential PathNet the JAX code replaces, in plain NumPy: the reference
that experiments.benchmark times one paper generation against.

One pathway at a time, as the PyTorch/TensorFlow ports do: for each of the
two tournament pathways, T minibatch SGD steps that compute only its active
modules (<= N per layer, each listed module once), then its fitness
(accuracy on every training row), then the microbial tell. float32
throughout; the layer outputs are averaged (the paper).

  python -m experiments.benchmarks.reference --rows=3000 --reps=3

prints one JSON line {"seconds": [per generation], ...}. The benchmark runs
it in its own process with glibc's malloc told to keep freed memory
(MALLOC_ENV), without which NumPy's large temporaries are page-fault bound
and the reference looks slower than the ports are.
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

# glibc: keep large blocks in the heap instead of mmap/munmap per temporary.
MALLOC_ENV = {'MALLOC_MMAP_THRESHOLD_': '1073741824',
              'MALLOC_TRIM_THRESHOLD_': '1073741824',
              'MALLOC_TOP_PAD_': '268435456'}


def init_params(rng: np.random.Generator, d_in: int, num_layers: int,
                num_modules: int, units: int, num_classes: int):
  """Stacked He-normal weights [M, d_in, U] per layer and a linear head."""
  layers = []
  for l in range(num_layers):
    fan_in = d_in if l == 0 else units
    w = rng.normal(size=(num_modules, fan_in, units)) * math.sqrt(2 / fan_in)
    layers.append({'w': w.astype(np.float32),
                   'b': np.zeros((num_modules, units), np.float32)})
  head = {'w': (rng.normal(size=(units, num_classes)) /
                math.sqrt(units)).astype(np.float32),
          'b': np.zeros((num_classes,), np.float32)}
  return {'layers': layers, 'head': head}


def active_modules(genotype: np.ndarray) -> list[np.ndarray]:
  """Each layer's distinct module indices (a module listed twice counts once)."""
  return [np.unique(row) for row in genotype]


def forward(params, modules, x):
  """Logits and what the backward pass needs: per layer the inputs and the
  pre-activations of each active module."""
  h, cache = x, []
  for layer, mods in zip(params['layers'], modules):
    z = [h @ layer['w'][m] + layer['b'][m] for m in mods]
    cache.append((h, z))
    h = sum(np.maximum(zi, 0) for zi in z) / len(mods)
  return h @ params['head']['w'] + params['head']['b'], h, cache


def sgd_step(params, modules, x, y, lr: float) -> float:
  """One minibatch step on the pathway's modules and the head; the loss."""
  logits, h_last, cache = forward(params, modules, x)
  logits = logits - logits.max(axis=1, keepdims=True)
  p = np.exp(logits)
  p /= p.sum(axis=1, keepdims=True)
  n = x.shape[0]
  loss = float(-np.log(p[np.arange(n), y] + 1e-12).mean())
  p[np.arange(n), y] -= 1.0
  d_logits = p / n
  head = params['head']
  d_h = d_logits @ head['w'].T
  head['w'] -= lr * (h_last.T @ d_logits)
  head['b'] -= lr * d_logits.sum(axis=0)
  for l in reversed(range(len(modules))):
    layer, mods = params['layers'][l], modules[l]
    h_in, z = cache[l]
    d_next = np.zeros_like(h_in) if l > 0 else None
    for m, zi in zip(mods, z):
      dz = (d_h / len(mods)) * (zi > 0)
      if d_next is not None:
        d_next += dz @ layer['w'][m].T
      layer['w'][m] -= lr * (h_in.T @ dz)
      layer['b'][m] -= lr * dz.sum(axis=0)
    d_h = d_next
  return loss


def accuracy(params, modules, x, y) -> float:
  logits, _, _ = forward(params, modules, x)
  return float((logits.argmax(axis=1) == y).mean())


def mutate(rng, genotype, num_modules: int):
  hit = rng.random(genotype.shape) < 1.0 / genotype.size
  delta = rng.integers(-2, 3, genotype.shape)
  return np.mod(genotype + np.where(hit, delta, 0), num_modules)


def generation(rng, params, population, x, y, *, batch_size: int, lr: float,
               num_modules: int) -> None:
  """One binary tournament, in place: train both, score both, copy+mutate."""
  pair = rng.choice(len(population), 2, replace=False)
  steps = math.ceil(x.shape[0] / batch_size)
  fitness = []
  for member in pair:
    modules = active_modules(population[member])
    order = rng.permutation(x.shape[0])
    for t in range(steps):
      rows = order[t * batch_size:(t + 1) * batch_size]
      if rows.size < batch_size:  # wrap around, as the JAX batches do
        rows = np.concatenate([rows, order[:batch_size - rows.size]])
      sgd_step(params, modules, x[rows], y[rows], lr)
    fitness.append(accuracy(params, modules, x, y))
  winner, loser = (pair if fitness[0] >= fitness[1] else pair[::-1])
  population[loser] = mutate(rng, population[winner], num_modules)


def main() -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument('--rows', type=int, default=3000)
  ap.add_argument('--classes', type=int, default=7)
  ap.add_argument('--d_in', type=int, default=64 * 64 * 3)
  ap.add_argument('--layers', type=int, default=3)
  ap.add_argument('--modules', type=int, default=20)
  ap.add_argument('--units', type=int, default=20)
  ap.add_argument('--max_active', type=int, default=4)
  ap.add_argument('--population', type=int, default=20)
  ap.add_argument('--batch_size', type=int, default=64)
  ap.add_argument('--reps', type=int, default=3)
  args = ap.parse_args()
  rng = np.random.default_rng(0)
  x = rng.normal(size=(args.rows, args.d_in)).astype(np.float32)
  y = rng.integers(0, args.classes, args.rows)
  params = init_params(rng, args.d_in, args.layers, args.modules, args.units,
                       args.classes)
  population = [rng.integers(0, args.modules, (args.layers, args.max_active))
                for _ in range(args.population)]
  kw = dict(batch_size=args.batch_size, lr=0.02, num_modules=args.modules)
  generation(rng, params, population, x, y, **kw)  # warm the allocator
  seconds = []
  for _ in range(args.reps):
    t0 = time.perf_counter()
    generation(rng, params, population, x, y, **kw)
    seconds.append(time.perf_counter() - t0)
  print(json.dumps({'seconds': seconds}))


if __name__ == '__main__':
  main()
