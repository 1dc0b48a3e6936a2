"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset): 91 actors,
12 sentences, 6 emotions, audio and video.

Layout of the distributed corpus: `<root>/AudioWAV/<name>.wav`,
`<root>/VideoFlash/<name>.flv` and `<root>/VideoDemographics.csv`, with
`<name>` = `<actor>_<sentence>_<emotion>_<level>` (e.g. 1001_DFA_ANG_XX;
emotion in labels.CREMA_D, level LO/MD/HI/XX). The actor is the speaker; sex
comes from VideoDemographics.csv (ActorID, Sex = Male/Female; '' when the
file or the actor's row is absent).

'video' records are the .flv clips. 'audio' records are the .wav files, plus
the sound track of a clip whose utterance has no .wav (as RAVDESS does), so a
copy holding only VideoFlash/ still yields audio, without duplicates.
"""
from __future__ import annotations

import csv
import logging
import os
import re
from pathlib import Path

from data_prep import labels
from data_prep.corpora import Record, check_modality, check_root, find_files, relative

NAME = 'crema_d'
_FOLDERS = {'audio': ('AudioWAV', '.wav'), 'video': ('VideoFlash', '.flv')}
_PATTERN = re.compile(r'^(\d+)_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})\.(wav|flv)$',
                      re.I)
DEMOGRAPHICS = 'VideoDemographics.csv'


def parse(name: str) -> dict[str, str] | None:
  """actor, sentence, emotion, level of a CREMA-D file name, or None."""
  m = _PATTERN.match(name)
  if not m:
    return None
  actor, sentence, emotion, level, _ = m.groups()
  return dict(actor=actor, sentence=sentence.upper(), emotion=emotion.upper(),
              level=level.upper())


def actor_sex(root: Path) -> dict[str, str]:
  """ActorID -> 'f'/'m' from root/VideoDemographics.csv ({} when absent)."""
  path = root / DEMOGRAPHICS
  if not path.is_file():
    logging.warning('crema_d: no %s under %s; sex unknown', DEMOGRAPHICS, root)
    return {}
  out = {}
  with open(path, newline='', encoding='utf-8-sig') as f:
    for row in csv.DictReader(f):
      sex = (row.get('Sex') or '').strip().lower()
      if sex in ('male', 'female'):
        out[(row.get('ActorID') or '').strip()] = sex[0]
  return out


def records(root: str | os.PathLike, modality: str | None = None
            ) -> list[Record]:
  """CREMA-D recordings of the asked modalities, sorted by path.

  Raises:
    CorpusError: root missing.
    labels.LabelError: an emotion code outside labels.CREMA_D (names the file).
  """
  root = check_root(root)
  wanted = check_modality(modality)
  sex = actor_sex(root)
  found = {}  # modality folder -> {utterance name: Record}
  for mod, (top, suffix) in _FOLDERS.items():
    found[mod] = {}
    if not (root / top).is_dir():
      continue
    for path in find_files(root / top, (suffix,)):
      f = parse(path.name)
      if f is None:
        logging.warning('crema_d: skipping %s (not <actor>_<sentence>_'
                        '<emotion>_<level>%s)', path, suffix)
        continue
      found[mod][path.stem.upper()] = dict(
          corpus=NAME, path=str(path), speaker=f['actor'],
          utterance_id=relative(path, root),
          label=labels.lookup(labels.CREMA_D, f['emotion'], str(path), NAME),
          sex=sex.get(f['actor'], ''))
  if not found['audio'] and not found['video']:
    logging.warning('crema_d: neither AudioWAV/*.wav nor VideoFlash/*.flv '
                    'under %s', root)
  out = []
  if 'audio' in wanted:
    tracks = {k: r for k, r in found['video'].items()
              if k not in found['audio']}
    out += [Record(modality='audio', **r)
            for r in [*found['audio'].values(), *tracks.values()]]
  if 'video' in wanted:
    out += [Record(modality='video', **r) for r in found['video'].values()]
  return sorted(out, key=lambda r: (r.path, r.modality))
