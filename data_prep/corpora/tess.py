"""TESS (Toronto Emotional Speech Set): 2 female speakers (OAF, aged 64;
YAF, aged 26) saying 200 words in 7 emotions, audio only.

Layout of the distributed corpus: one folder per speaker and emotion
(`OAF_angry/`, `YAF_pleasant_surprised/`, ...; names and case vary between
copies), files `<speaker>_<word>_<emotion>.wav` (e.g. OAF_back_angry.wav,
YAF_bar_ps.wav; emotion in labels.TESS). The file name is trusted, not the
folder; a name that is not of that form is logged and skipped. Copies that
nest the set twice (some archives do) give each file name once.
"""
from __future__ import annotations

import logging
import os
import re

from data_prep import labels
from data_prep.corpora import Record, check_modality, check_root, find_files, relative

NAME = 'tess'
SPEAKERS = ('OAF', 'YAF')
_PATTERN = re.compile(r'^(OAF|YAF)_(.+)_([a-z]+)\.wav$', re.I)


def records(root: str | os.PathLike, modality: str | None = None
            ) -> list[Record]:
  """Every TESS utterance under root, sorted by path.

  Raises:
    CorpusError: root missing.
    labels.LabelError: an emotion outside labels.TESS (names the file).
  """
  root = check_root(root)
  if 'audio' not in check_modality(modality):
    return []  # TESS has no video
  out, seen = [], {}
  for path in find_files(root, ('.wav',)):
    m = _PATTERN.match(path.name)
    if not m:
      logging.warning('tess: skipping %s (name is not <OAF|YAF>_<word>_'
                      '<emotion>.wav)', path)
      continue
    key = path.name.lower()
    if key in seen:
      logging.warning('tess: skipping %s (same file name as %s)', path,
                      seen[key])
      continue
    seen[key] = path
    speaker, _, code = m.groups()
    out.append(Record(
        corpus=NAME, path=str(path), speaker=speaker.upper(),
        utterance_id=relative(path, root),
        label=labels.lookup(labels.TESS, code.lower(), str(path), NAME),
        sex='f', modality='audio'))
  return out
