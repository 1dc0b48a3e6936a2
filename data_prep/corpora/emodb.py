"""EMO-DB (Berlin Database of Emotional Speech), audio only.

Layout `<root>/wav/03a01Fa.wav`: speaker = characters 1–2, text = 3–5,
emotion = character 6 (labels.EMODB), version = 7. Sex from the corpus's
speaker table.
"""
from __future__ import annotations

import logging
import os
import re
from types import MappingProxyType

from data_prep import labels
from data_prep.corpora import Record, check_modality, check_root, find_files, relative

NAME = 'emodb'
SEX = MappingProxyType({
    '03': 'm', '08': 'f', '09': 'f', '10': 'm', '11': 'm', '12': 'm',
    '13': 'f', '14': 'f', '15': 'm', '16': 'f'})
_PATTERN = re.compile(r'^(\d\d)([a-z]\d\d)([A-Za-z])([a-z]?)\.wav$', re.I)


def records(root: str | os.PathLike, modality: str | None = None
            ) -> list[Record]:
  """Every EMO-DB utterance under root (or root/wav), sorted by path.

  Raises:
    CorpusError: root missing.
    labels.LabelError: an emotion letter outside labels.EMODB (names the file).
  """
  root = check_root(root)
  if 'audio' not in check_modality(modality):
    return []  # EMO-DB has no video
  folder = root / 'wav' if (root / 'wav').is_dir() else root
  out = []
  for path in find_files(folder, ('.wav',)):
    m = _PATTERN.match(path.name)
    if not m:
      logging.warning('emodb: skipping %s (name is not <ss><ttt><E><v>.wav)',
                      path)
      continue
    speaker, _, code, _ = m.groups()
    out.append(Record(
        corpus=NAME, path=str(path), speaker=speaker,
        utterance_id=relative(path, root),
        label=labels.lookup(labels.EMODB, code.upper(), str(path), NAME),
        sex=SEX.get(speaker, ''), modality='audio'))
  return out
