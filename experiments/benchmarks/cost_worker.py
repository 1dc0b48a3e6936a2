r"""One point of the cost-growth item, in its own process (so its peak
resident memory is its own).

  python -m experiments.benchmarks.cost_worker train --utterances=2000 \
      --store_dir=/tmp/x [--population=20 --modules=20 --runs=1]
  python -m experiments.benchmarks.cost_worker extract --files=1000 \
      --store_dir=/tmp/x [--workers=2]

train: a synthetic segment store of `utterances` x 5 segments written
directly (no audio; reused when present), then `improved` (time-pooled
view) exactly as experiments.train runs it: load (memory-mapped), plan
fold 0 of 5 for `runs` seeds, evolve 3 generations as one batch.
extract: `files` one-second wav files, then store.extract into a store.
Prints one JSON line: the measurements and peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np

SEGMENTS_PER_UTTERANCE = 5
SPEAKERS = 50
CLASSES = 4
WRITE_UTTERANCES = 2000  # per block written: ~0.5 GB of segments
SAMPLE_RATE = 16000


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
  return resource.getrusage(who).ru_maxrss / 1024.0


def synthetic_store(path: str, utterances: int, seed: int = 0) -> float:
  """Writes (unless present) a FORMAT2 store of `utterances` x 5 random
  segments [64, 64, 3] with a class offset; returns the seconds spent."""
  from data_prep import featureset  # pylint: disable=g-import-not-at-top
  from data_prep import storedir  # pylint: disable=g-import-not-at-top
  if storedir.is_store(path) and os.path.exists(
      os.path.join(path, storedir.COLUMNS)):
    return 0.0
  t0 = time.perf_counter()
  rng = np.random.default_rng(seed)
  utt = np.repeat(np.arange(utterances), SEGMENTS_PER_UTTERANCE)
  label = (utt % CLASSES).astype(np.int32)
  speaker = featureset.str_array(f's{u % SPEAKERS:02d}' for u in utt)
  empty = np.zeros((0, 64, 64, 3), np.float32)
  with storedir.writing(path, empty) as w:
    for start in range(0, utterances, WRITE_UTTERANCES):
      stop = min(start + WRITE_UTTERANCES, utterances)
      n = (stop - start) * SEGMENTS_PER_UTTERANCE
      x = rng.standard_normal((n, 64, 64, 3), dtype=np.float32)
      x += 0.3 * label[start * SEGMENTS_PER_UTTERANCE:
                       stop * SEGMENTS_PER_UTTERANCE, None, None, None]
      w.append(x)
    w.commit(featureset.columns({
        'label': label, 'utterance': utt.astype(np.int32), 'speaker': speaker,
        'corpus': np.full(utt.size, 'synthetic'),
        'sex': np.where(utt % 2 == 0, 'f', 'm'),
        'class_names': ('anger', 'happiness', 'neutral', 'sadness'),
        'utterance_ids': [f'u{u}' for u in range(utterances)],
        'params': {'corpus': 'synthetic_store', 'modality': 'audio'}}))
  return time.perf_counter() - t0


def train_point(args) -> dict:
  """Peak RSS and seconds per generation of `improved` on the store."""
  import jax  # pylint: disable=g-import-not-at-top
  from experiments.configs import improved  # pylint: disable=g-import-not-at-top
  from experiments.lib import chunked  # pylint: disable=g-import-not-at-top
  from experiments.lib import data  # pylint: disable=g-import-not-at-top
  from experiments.lib import protocol  # pylint: disable=g-import-not-at-top
  from pathnet_jax import runs as runs_lib  # pylint: disable=g-import-not-at-top
  path = os.path.join(args.store_dir, f'synthetic_{args.utterances}.fs')
  write_s = synthetic_store(path, args.utterances)
  rss_base = peak_rss_mb()
  config = improved.get_config()
  config.target = path
  config.evolution.generations = 3
  config.evolution.checkpoint_every = 0
  config.evolution.population_size = args.population
  config.model.num_modules = args.modules
  config.folds = (0,)
  t0 = time.perf_counter()
  fs = data.load_corpus(config.target, config)
  plans = protocol.plan(config, fs, list(range(args.runs)))
  runs = protocol.target_runs(config, fs, plans, None)
  prep_s = time.perf_counter() - t0
  results = runs_lib.evolve_runs(config, runs)
  jax.block_until_ready(results[-1].params)
  seconds = np.asarray(results[0].history['seconds'], np.float64)
  n_fit = int(sum(len(p.fit_rows) for p in plans))
  return {'kind': 'train', 'utterances': args.utterances,
          'segments': len(fs), 'store_gb': fs.x.nbytes / 1e9,
          'population': args.population, 'modules': args.modules,
          'runs': args.runs, 'train_rows': n_fit,
          'streamed': chunked.needed(fs.x, float(config.data_memory_gb)),
          'write_s': write_s, 'prep_s': prep_s,
          'first_generation_s': float(seconds[0]),  # compile included
          'generation_s': float(np.median(seconds[1:])),
          'rss_before_mb': rss_base, 'peak_rss_mb': peak_rss_mb()}


def extract_point(args) -> dict:
  """Files/s and peak RSS (this process; the worst worker) of extraction."""
  import soundfile  # pylint: disable=g-import-not-at-top
  from data_prep import store  # pylint: disable=g-import-not-at-top
  root = os.path.join(args.store_dir, f'wavs_{args.files}')
  os.makedirs(root, exist_ok=True)
  rng = np.random.default_rng(0)
  lines = ['path,label,speaker']
  for i in range(args.files):
    name = f'f{i:06d}.wav'
    if not os.path.exists(os.path.join(root, name)):
      tone = np.sin(2 * np.pi * (200 + 40 * (i % 4)) *
                    np.arange(SAMPLE_RATE) / SAMPLE_RATE)
      soundfile.write(os.path.join(root, name),
                      (0.3 * tone + 0.05 * rng.standard_normal(SAMPLE_RATE)
                       ).astype(np.float32), SAMPLE_RATE)
    lines.append(f'{name},{("anger", "sadness", "neutral", "happiness")[i % 4]}'
                 f',s{i % SPEAKERS:02d}')
  manifest = os.path.join(root, 'manifest.csv')
  with open(manifest, 'w') as f:
    f.write('\n'.join(lines) + '\n')
  out = os.path.join(args.store_dir, f'extract_{args.files}.fs')
  rss_base = peak_rss_mb()
  t0 = time.perf_counter()
  fs = store.extract(f'manifest:{manifest}', None, 'audio', out=out,
                     workers=args.workers, progress=False)
  seconds = time.perf_counter() - t0
  return {'kind': 'extract', 'files': args.files, 'workers': args.workers,
          'segments': len(fs), 'seconds': seconds,
          'files_per_s': args.files / seconds, 'rss_before_mb': rss_base,
          'peak_rss_mb': peak_rss_mb(),
          'worker_peak_rss_mb': peak_rss_mb(resource.RUSAGE_CHILDREN)}


def main() -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument('kind', choices=('train', 'extract'))
  ap.add_argument('--store_dir', required=True)
  ap.add_argument('--utterances', type=int, default=2000)
  ap.add_argument('--population', type=int, default=20)
  ap.add_argument('--modules', type=int, default=20)
  ap.add_argument('--runs', type=int, default=1)
  ap.add_argument('--files', type=int, default=1000)
  ap.add_argument('--workers', type=int, default=2)
  args = ap.parse_args()
  point = train_point(args) if args.kind == 'train' else extract_point(args)
  print(json.dumps(point), flush=True)


if __name__ == '__main__':
  main()
