"""Any labelled corpus without code: a CSV manifest listing its files.

  path,label,speaker[,sex]
  wav/03a01Fa.wav,happiness,03,m
  faces/KA.HA1.29.tiff,happiness,KA,f

`path`: absolute, or relative to the CSV's folder; the extension says what
the file is (data_prep.formats, the one list): audio (.wav, .flac, ...),
video (.avi, .mp4, .flv, .mpg, ...; offered as 'video' and, for its sound
track, as 'audio', like eNTERFACE) or a still image (.jpg, .png, .tiff, ...;
'image': one face crop per picture).
`label`: a harmonised emotion name (labels.EMOTIONS; case and surrounding
spaces ignored). `speaker`: any id. `sex`: optional, 'f', 'm' or empty.
Extra columns are ignored. The corpus name of the records is the CSV's file
stem (speakers of pooled sets are prefixed with it).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from data_prep import formats
from data_prep import labels
from data_prep.corpora import CorpusError, Record, check_modality

REQUIRED = ('path', 'label', 'speaker')
AUDIO_EXTS, VIDEO_EXTS, IMAGE_EXTS = (formats.AUDIO_EXTS, formats.VIDEO_EXTS,
                                      formats.IMAGE_EXTS)
file_kind = formats.file_kind
OFFERS = {'audio': ('audio',), 'video': ('audio', 'video'),
          'image': ('image',)}


class ManifestError(CorpusError):
  """A manifest that cannot be used; the message names the CSV (and line)."""


def records(csv_path: str | os.PathLike, modality: str | None = None
            ) -> list[Record]:
  """The manifest's recordings of the asked modalities, sorted by path.

  Raises:
    ManifestError: CSV missing, without a required column, or with a row
      whose file is missing, listed twice, of an unknown type, or whose
      speaker or sex is unusable (names the CSV, the line and the file).
    labels.LabelError: a label outside labels.EMOTIONS (names CSV and line).
  """
  csv_path = Path(csv_path).expanduser().resolve()
  if not csv_path.is_file():
    raise ManifestError(f'manifest not found: {csv_path}')
  wanted = check_modality(modality, ('audio', 'video', 'image'))
  name = csv_path.stem
  out, seen = [], set()
  with open(csv_path, newline='', encoding='utf-8-sig') as f:
    reader = csv.DictReader(f)
    columns = [c.strip() for c in reader.fieldnames or ()]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
      raise ManifestError(
          f'{csv_path}: missing column(s) {", ".join(missing)} (a manifest '
          f'needs {",".join(REQUIRED)} and may have sex)')
    for line, raw in enumerate(reader, start=2):
      row = {(k or '').strip(): (v or '').strip() for k, v in raw.items()}
      where = f'{csv_path} line {line}'
      rel = row['path']
      path = Path(os.path.abspath(csv_path.parent / rel))  # keeps symlinks
      if not path.is_file():
        raise ManifestError(f'{where}: {path}: no such file')
      if path in seen:
        raise ManifestError(f'{where}: {rel} is listed twice')
      seen.add(path)
      kind = file_kind(rel)
      if kind is None:
        raise ManifestError(
            f'{where}: {rel}: unknown file type ({formats.describe()})')
      label = row['label'].lower()
      if label not in labels.EMOTIONS:
        raise labels.LabelError(
            f'{where}: unknown label {row["label"]!r} (harmonised names: '
            f'{", ".join(labels.EMOTIONS)})')
      if not row['speaker']:
        raise ManifestError(f'{where}: empty speaker')
      sex = row.get('sex', '').lower()
      if sex not in ('f', 'm', ''):
        raise ManifestError(f"{where}: sex must be 'f', 'm' or empty, got "
                            f'{row["sex"]!r}')
      for mod in OFFERS[kind]:
        if mod in wanted:
          out.append(Record(corpus=name, path=str(path),
                            speaker=row['speaker'],
                            utterance_id=Path(rel).as_posix(), label=label,
                            sex=sex, modality=mod))
  return sorted(out, key=lambda r: (r.path, r.modality))
