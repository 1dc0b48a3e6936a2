"""SAVEE (Surrey Audio-Visual Expressed Emotion): 4 male speakers.

Audio: `<root>/AudioData/<DC|JE|JK|KL>/<code><NN>.wav`; video:
`<root>/AudioVisualClip/<speaker>/<code><NN>.avi`, code in labels.SAVEE
(a, d, f, h, n, sa, su).
"""
from __future__ import annotations

import logging
import os
import re

from data_prep import labels
from data_prep.corpora import Record, check_modality, check_root, find_files, relative

NAME = 'savee'
SPEAKERS = ('DC', 'JE', 'JK', 'KL')
_FOLDERS = {'audio': ('AudioData', '.wav'), 'video': ('AudioVisualClip', '.avi')}
_PATTERN = re.compile(r'^([a-z]+)(\d+)\.(wav|avi)$', re.I)


def records(root: str | os.PathLike, modality: str | None = None
            ) -> list[Record]:
  """SAVEE recordings of the asked modalities, sorted by path.

  The speaker is the folder directly under AudioData/AudioVisualClip.

  Raises:
    CorpusError: root missing.
    labels.LabelError: a code outside labels.SAVEE (names the file).
  """
  root = check_root(root)
  out = []
  for mod in check_modality(modality):
    top, suffix = _FOLDERS[mod]
    if not (root / top).is_dir():
      logging.warning('savee: no %s folder under %s', top, root)
      continue
    for path in find_files(root / top, (suffix,)):
      rel = path.relative_to(root / top).parts
      m = _PATTERN.match(path.name)
      if len(rel) != 2 or not m:
        logging.warning('savee: skipping %s (not %s/<speaker>/<code><NN>%s)',
                        path, top, suffix)
        continue
      out.append(Record(
          corpus=NAME, path=str(path), speaker=rel[0],
          utterance_id=relative(path, root),
          label=labels.lookup(labels.SAVEE, m.group(1).lower(), str(path),
                              NAME),
          sex='m', modality=mod))
  return sorted(out, key=lambda r: r.path)
