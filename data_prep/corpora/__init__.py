"""Corpus readers: a corpus folder → one `Record` per usable recording.

Each module (emodb, savee, enterface, ravdess) exposes
`records(root, modality=None) -> list[Record]`, sorted by path. `modality`
'audio' or 'video' keeps the recordings that feature would be extracted from;
None returns every (file, modality) pair the corpus offers (an eNTERFACE .avi
thus appears once as 'audio' and once as 'video').
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path
from types import ModuleType

NAMES = ('emodb', 'savee', 'enterface', 'ravdess')
MODALITIES = ('audio', 'video')


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
    modality: 'audio' (log-mel of its sound) or 'video' (face crops).
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
    raise ValueError(f'unknown corpus {name!r}; known: {", ".join(NAMES)}')
  return importlib.import_module(f'data_prep.corpora.{name}')


def check_root(root: str | os.PathLike) -> Path:
  """The root as an absolute Path; CorpusError naming it when missing."""
  path = Path(root).expanduser().resolve()
  if not path.is_dir():
    raise CorpusError(f'corpus root directory not found: {root}')
  return path


def check_modality(modality: str | None) -> tuple[str, ...]:
  """Modalities asked for: (m,) or all when None."""
  if modality is None:
    return MODALITIES
  if modality not in MODALITIES:
    raise ValueError(f'modality must be one of {MODALITIES} or None, '
                     f'got {modality!r}')
  return (modality,)


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
