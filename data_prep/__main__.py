"""Command line: `python -m data_prep extract --corpus emodb --root DIR ...`.

Extracts a corpus's features into a store (`--out X.fs`: a memory-mapped
directory; `--out X.npz`: one archive; reused when inputs and parameters
are unchanged) and prints a one-line summary. A corpus without a
reader: `--corpus manifest:PATH.csv` (no --root). A bad corpus, manifest or
file is one `error: ...` line and exit code 1.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from data_prep import corpora
from data_prep import store
from data_prep import video


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog='python -m data_prep')
  sub = parser.add_subparsers(dest='command', required=True)
  ex = sub.add_parser('extract', help='corpus files → FeatureSet store')
  ex.add_argument('--corpus', required=True, type=corpus_name,
                  help=f'{"|".join(corpora.NAMES)}|{corpora.MANIFEST}PATH.csv')
  ex.add_argument('--root', default=None,
                  help='corpus folder (not for a manifest)')
  ex.add_argument('--modality', default='audio', choices=corpora.MODALITIES)
  ex.add_argument('--out', required=True,
                  help='store to write: DIR.fs (memory-mapped rows) or X.npz')
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
  ex.add_argument('--max_frames', type=int, default=None,
                  help='video: at most this many of the kept frames per clip, '
                  'evenly spaced (default 0: all)')
  ex.add_argument('--faces', default=None, choices=video.FACES,
                  help="video/image: 'detect' a face in each frame (default) "
                  "or 'given': the files are face crops already (FER2013, "
                  'CK+48), each frame is resized as the face')
  ex.add_argument('--no_progress', action='store_true')
  args = parser.parse_args(argv)
  if args.root is None and not corpora.is_manifest(args.corpus):
    parser.error(f'--root is required for --corpus {args.corpus}')
  return args


def corpus_name(value: str) -> str:
  """argparse type: a reader's name or 'manifest:PATH.csv'."""
  if value in corpora.NAMES or (corpora.is_manifest(value)
                                and value.lower().endswith('.csv')):
    return value
  raise argparse.ArgumentTypeError(
      f'unknown corpus {value!r}; use {", ".join(corpora.NAMES)} or '
      f'{corpora.MANIFEST}PATH.csv')


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
  if args.max_frames is not None and args.modality == 'video':
    overrides['max_frames'] = args.max_frames
  if args.faces is not None and args.modality in ('video', 'image'):
    overrides['faces'] = args.faces
  start = time.perf_counter()
  try:
    fs, reused = store._extract(  # pylint: disable=protected-access
        args.corpus, args.root, args.modality, args.out, args.workers,
        args.on_error, overrides, not args.no_progress)
  except (ValueError, store.ExtractionError) as e:  # corpus, manifest, file
    print(f'error: {e}', file=sys.stderr)
    return 1
  seconds = time.perf_counter() - start
  skipped = fs.params.get('skipped', [])
  rows = ({'audio': 'segments', 'video': 'frames', 'image': 'faces'}[
      args.modality] if not args.functionals else 'rows of functionals')
  print(f'{args.corpus} {args.modality}: {fs.params.get("n_files")} files, '
        f'{len(fs)} {rows}, {len(skipped)} skipped, {seconds:.1f} s'
        f'{" (cache reused)" if reused else ""} -> {args.out}')
  for line in skipped:
    print(f'  skipped {line}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
