"""eNTERFACE'05 audio-visual emotion database: 6 emotions, .avi files.

Layout `<root>/subject <N>/<emotion>/sentence <M>/s<N>_<code>_<M>.avi`;
audio is the avi's own track. The distributed corpus deviates from this in
places (missing sentence folders, extra underscores or different case in
names, files whose code disagrees with their folder), so the reader is
lenient: the emotion folder is trusted, any disagreement with the file name
is logged, and a file it cannot place is logged and skipped, never raised.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from data_prep import labels
from data_prep.corpora import Record, check_modality, check_root, find_files, relative

NAME = 'enterface'
_SUBJECT_DIR = re.compile(r'^subject[\s_-]*(\d+)$', re.I)
_FILE = re.compile(r'^s[\s_-]*(\d+)[\s_-]+([a-z]+)(?:[\s_-]*(\d+))?', re.I)


def records(root: str | os.PathLike, modality: str | None = None
            ) -> list[Record]:
  """Every placeable eNTERFACE video, once per asked modality, by path.

  Raises:
    CorpusError: root missing.
  """
  root = check_root(root)
  mods = check_modality(modality)
  out = []
  for path in find_files(root, ('.avi',)):
    placed = _place(path, root)
    if placed is None:
      continue
    speaker, label = placed
    for mod in mods:
      out.append(Record(corpus=NAME, path=str(path), speaker=speaker,
                        utterance_id=relative(path, root), label=label, sex='',
                        modality=mod))
  return out


def _place(path: Path, root: Path) -> tuple[str, str] | None:
  """(speaker, label) of one file from its folders and name, or None."""
  folders = path.relative_to(root).parts[:-1]
  folder_label = next((labels.ENTERFACE_FOLDERS[d.strip().lower()]
                       for d in reversed(folders)
                       if d.strip().lower() in labels.ENTERFACE_FOLDERS), None)
  folder_subject = next((m.group(1) for m in map(_SUBJECT_DIR.match, folders)
                         if m), None)
  m = _FILE.match(path.stem)
  file_subject = m.group(1) if m else None
  file_label = labels.ENTERFACE.get(m.group(2).lower()) if m else None

  label = folder_label or file_label
  subject = folder_subject or file_subject
  if label is None or subject is None:
    logging.warning('enterface: skipping %s (cannot tell its %s)', path,
                    'emotion' if label is None else 'subject')
    return None
  if folder_label and file_label != folder_label:
    logging.warning('enterface: %s: file name says %s, folder says %s; '
                    'using the folder', path, file_label, folder_label)
  if folder_subject and file_subject and int(file_subject) != int(
      folder_subject):
    logging.warning('enterface: %s: file name says subject %s, folder says '
                    '%s; using the folder', path, file_subject, folder_subject)
  return f's{int(subject)}', label
