"""Corpus readers: a corpus folder → one `Record` per usable recording.

Each module (emodb, savee, enterface, ravdess, crema_d, tess) exposes
`records(root, modality=None) -> list[Record]`, sorted by path. `modality`
'audio', 'video' or 'image' keeps the recordings that feature would be
extracted from; None returns every (file, modality) pair the corpus offers
(an eNTERFACE .avi thus appears once as 'audio' and once as 'video').

A corpus without a reader is named by its manifest: 'manifest:PATH.csv'
(see `manifest`); `read(name, root, modality)` serves both kinds.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path
from types import ModuleType

NAMES = ('emodb', 'savee', 'enterface', 'ravdess', 'crema_d', 'tess')
# audio: log-mel segments; video: a face crop per frame; image: the face crop
# of one still picture.
MODALITIES = ('audio', 'video', 'image')
MANIFEST = 'manifest:'  # prefix of a manifest corpus name


@dataclasses.dataclass(frozen=True)
class Record:
  """One recording of a corpus.

  Attributes:
    corpus: corpus name ('emodb', ...).
    path: absolute path of the file to read.
    speaker: speaker id within the corpus (e.g. '03', 'DC', 's1', '12').
    utterance_id: the file's path relative to the corpus root (posix).
    label: harmonised emotion name (one of labels.EMOTIONS).
    sex: 'f', 'm' or '' when the corpus does not say.
    modality: 'audio' (log-mel of its sound), 'video' (a face crop per
      frame) or 'image' (the face crop of a still picture).
  """
  corpus: str
  path: str
  speaker: str
  utterance_id: str
  label: str
  sex: str
  modality: str


class CorpusError(ValueError):
  """A corpus folder is missing or holds no recognisable recordings."""


def get(name: str) -> ModuleType:
  """The reader module of corpus `name` (one of NAMES)."""
  if name not in NAMES:
    raise ValueError(f'unknown corpus {name!r}; known: {", ".join(NAMES)}, '
                     f'or {MANIFEST}PATH.csv')
  return importlib.import_module(f'data_prep.corpora.{name}')


def is_manifest(name: str) -> bool:
  """Whether a corpus name is 'manifest:PATH.csv'."""
  return name.startswith(MANIFEST)


def read(name: str, root: str | os.PathLike | None,
         modality: str | None = None) -> list[Record]:
  """Records of a named corpus under root, or of 'manifest:PATH.csv' (which
  needs no root: its paths are absolute or relative to the CSV's folder)."""
  if is_manifest(name):
    from data_prep.corpora import manifest  # pylint: disable=g-import-not-at-top
    return manifest.records(name.removeprefix(MANIFEST), modality)
  if root is None:
    raise ValueError(f'corpus {name!r} needs a root folder')
  return get(name).records(root, modality)


def check_root(root: str | os.PathLike) -> Path:
  """The root as an absolute Path; CorpusError naming it when missing."""
  path = Path(root).expanduser().resolve()
  if not path.is_dir():
    raise CorpusError(f'corpus root directory not found: {root}')
  return path


def check_modality(modality: str | None,
                   offered: tuple[str, ...] = ('audio', 'video')
                   ) -> tuple[str, ...]:
  """Modalities asked for that the corpus `offered`: all offered when None."""
  if modality is None:
    return offered
  if modality not in MODALITIES:
    raise ValueError(f'modality must be one of {MODALITIES} or None, '
                     f'got {modality!r}')
  return (modality,) if modality in offered else ()


def relative(path: Path, root: Path) -> str:
  """Posix path of `path` relative to `root` (the utterance id)."""
  return path.relative_to(root).as_posix()


def find_files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
  """Files under root (recursive, hidden skipped) with a suffix, sorted."""
  out = []
  for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
    out += [Path(dirpath) / f for f in filenames
            if not f.startswith('.') and f.lower().endswith(suffixes)]
  return sorted(out)
