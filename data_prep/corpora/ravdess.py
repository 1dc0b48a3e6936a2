"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song).

File names `<modality>-<channel>-<emotion>-<intensity>-<statement>-
<repetition>-<actor>.(wav|mp4)`, possibly inside Actor_XX folders. Modality
01 = audio-video mp4, 02 = video-only mp4, 03 = audio-only wav; channel 01
speech, 02 song (both kept); emotion in labels.RAVDESS; actor = speaker,
even actors female.

'video' records are the 01/02 mp4 files. 'audio' records are the 03 wav
files, plus the audio track of an 01 mp4 for any utterance (same channel,
emotion, intensity, statement, repetition, actor) that has no wav, so a
download of only the video zips still yields audio without duplicates.
"""
from __future__ import annotations

import logging
import os
import re

from data_prep import labels
from data_prep.corpora import Record, check_modality, check_root, find_files, relative

NAME = 'ravdess'
_PATTERN = re.compile(
    r'^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.(wav|mp4)$', re.I)


def parse(name: str) -> dict[str, str] | None:
  """The seven fields of a RAVDESS file name, or None when it is not one."""
  m = _PATTERN.match(name)
  if not m:
    return None
  keys = ('modality', 'channel', 'emotion', 'intensity', 'statement',
          'repetition', 'actor', 'ext')
  return dict(zip(keys, (g.lower() for g in m.groups())))


def records(root: str | os.PathLike, modality: str | None = None
            ) -> list[Record]:
  """RAVDESS recordings of the asked modalities, sorted by path.

  Raises:
    CorpusError: root missing.
    labels.LabelError: an emotion code outside labels.RAVDESS (names the file).
  """
  root = check_root(root)
  wanted = check_modality(modality)
  audio_wav, audio_mp4, video = {}, {}, []
  for path in find_files(root, ('.wav', '.mp4')):
    f = parse(path.name)
    if f is None:
      logging.warning('ravdess: skipping %s (not a RAVDESS file name)', path)
      continue
    label = labels.lookup(labels.RAVDESS, f['emotion'], str(path), NAME)
    actor = f['actor']
    rec = dict(corpus=NAME, path=str(path), speaker=actor,
               utterance_id=relative(path, root), label=label,
               sex='f' if int(actor) % 2 == 0 else 'm')
    key = tuple(f[k] for k in ('channel', 'emotion', 'intensity', 'statement',
                               'repetition', 'actor'))
    if f['ext'] == 'wav' and f['modality'] == '03':
      audio_wav[key] = Record(modality='audio', **rec)
    elif f['ext'] == 'mp4' and f['modality'] in ('01', '02'):
      video.append(Record(modality='video', **rec))
      if f['modality'] == '01':
        audio_mp4.setdefault(key, Record(modality='audio', **rec))
    else:
      logging.warning('ravdess: skipping %s (modality %s with .%s)', path,
                      f['modality'], f['ext'])
  out = []
  if 'audio' in wanted:
    out += list(audio_wav.values())
    out += [r for k, r in audio_mp4.items() if k not in audio_wav]
  if 'video' in wanted:
    out += video
  return sorted(out, key=lambda r: (r.path, r.modality))
