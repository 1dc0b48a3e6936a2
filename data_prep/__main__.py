"""Command line: `python -m data_prep extract --corpus emodb --root DIR ...`.

Extracts a corpus's features into an .npz (reused when inputs and
parameters are unchanged) and prints a one-line summary.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from data_prep import corpora
from data_prep import store


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog='python -m data_prep')
  sub = parser.add_subparsers(dest='command', required=True)
  ex = sub.add_parser('extract', help='corpus files → FeatureSet .npz')
  ex.add_argument('--corpus', required=True, choices=corpora.NAMES)
  ex.add_argument('--root', required=True, help='corpus folder')
  ex.add_argument('--modality', default='audio', choices=corpora.MODALITIES)
  ex.add_argument('--out', required=True, help='.npz to write')
  ex.add_argument('--workers', type=int, default=2,
                  help='processes (1 = in this process)')
  ex.add_argument('--on_error', default='raise', choices=('raise', 'skip'),
                  help='stop at a bad file, or log it and go on')
  ex.add_argument('--sr', type=int, default=None,
                  help='audio: resample rate (default 16000)')
  ex.add_argument('--functionals', default=None,
                  help='audio: openSMILE feature set (ComParE_2016, '
                  'eGeMAPSv02, ...), one row of functionals per file instead '
                  'of log-mel segments')
  ex.add_argument('--frame_step', type=int, default=None,
                  help='video: keep every n-th frame (default 1)')
  ex.add_argument('--no_progress', action='store_true')
  return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
  args = parse_args(sys.argv[1:] if argv is None else argv)
  logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')
  overrides = {}
  if args.sr is not None and args.modality == 'audio':
    overrides['sr'] = args.sr
  if args.functionals and args.modality == 'audio':
    overrides['functionals'] = args.functionals
  if args.frame_step is not None and args.modality == 'video':
    overrides['frame_step'] = args.frame_step
  start = time.perf_counter()
  fs, reused = store._extract(  # pylint: disable=protected-access
      args.corpus, args.root, args.modality, args.out, args.workers,
      args.on_error, overrides, not args.no_progress)
  seconds = time.perf_counter() - start
  skipped = fs.params.get('skipped', [])
  rows = ('frames' if args.modality == 'video' else
          'rows of functionals' if args.functionals else 'segments')
  print(f'{args.corpus} {args.modality}: {fs.params.get("n_files")} files, '
        f'{len(fs)} {rows}, {len(skipped)} skipped, {seconds:.1f} s'
        f'{" (cache reused)" if reused else ""} -> {args.out}')
  for line in skipped:
    print(f'  skipped {line}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
