"""The harmonised emotion vocabulary and each corpus's label codes.

Every corpus reader maps its own code (a letter, an abbreviation, a number)
onto one name of `EMOTIONS`, so that corpora can be pooled and transferred
between.  `EMOTIONS` order is the canonical class order of pooled sets.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

EMOTIONS: tuple[str, ...] = (
    'neutral', 'calm', 'anger', 'boredom', 'disgust', 'fear', 'happiness',
    'sadness', 'surprise')

# EMO-DB: 6th character of the file name (German initials).
EMODB: Mapping[str, str] = MappingProxyType({
    'W': 'anger', 'L': 'boredom', 'E': 'disgust', 'A': 'fear',
    'F': 'happiness', 'T': 'sadness', 'N': 'neutral'})

# SAVEE: file-name prefix before the number.
SAVEE: Mapping[str, str] = MappingProxyType({
    'a': 'anger', 'd': 'disgust', 'f': 'fear', 'h': 'happiness',
    'n': 'neutral', 'sa': 'sadness', 'su': 'surprise'})

# eNTERFACE'05: the emotion folder name and the file-name abbreviation.
ENTERFACE_FOLDERS: Mapping[str, str] = MappingProxyType({
    'anger': 'anger', 'disgust': 'disgust', 'fear': 'fear',
    'happiness': 'happiness', 'sadness': 'sadness', 'surprise': 'surprise'})
ENTERFACE: Mapping[str, str] = MappingProxyType({
    'an': 'anger', 'di': 'disgust', 'fe': 'fear', 'ha': 'happiness',
    'sa': 'sadness', 'su': 'surprise'})

# RAVDESS: third dash-separated field of the file name.
RAVDESS: Mapping[str, str] = MappingProxyType({
    '01': 'neutral', '02': 'calm', '03': 'happiness', '04': 'sadness',
    '05': 'anger', '06': 'fear', '07': 'disgust', '08': 'surprise'})

# CREMA-D: third underscore-separated field of the file name.
CREMA_D: Mapping[str, str] = MappingProxyType({
    'ANG': 'anger', 'DIS': 'disgust', 'FEA': 'fear', 'HAP': 'happiness',
    'NEU': 'neutral', 'SAD': 'sadness'})

# TESS: last underscore-separated field of the file name ('ps' = pleasant
# surprise).
TESS: Mapping[str, str] = MappingProxyType({
    'angry': 'anger', 'disgust': 'disgust', 'fear': 'fear',
    'happy': 'happiness', 'neutral': 'neutral', 'ps': 'surprise',
    'sad': 'sadness'})


# Each corpus reader's code table (eNTERFACE's folder names map the same).
BY_CORPUS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    'emodb': EMODB, 'savee': SAVEE, 'enterface': ENTERFACE,
    'ravdess': RAVDESS, 'crema_d': CREMA_D, 'tess': TESS})


def corpus_classes(corpus: str) -> tuple[str, ...]:
  """The harmonised classes a corpus with a reader can hold, canonical order."""
  if corpus not in BY_CORPUS:
    raise ValueError(f'no label table for corpus {corpus!r}; known: '
                     f'{", ".join(BY_CORPUS)}')
  return ordered(BY_CORPUS[corpus].values())


def shared_classes(corpora: Iterable[str]) -> tuple[str, ...]:
  """Classes every named corpus holds (e.g. RAVDESS and EMO-DB: the six
  without calm, surprise and boredom), canonical order."""
  sets = [set(corpus_classes(c)) for c in corpora]
  return ordered(set.intersection(*sets)) if sets else ()


class LabelError(ValueError):
  """A label code that the corpus's map does not know."""


def lookup(table: Mapping[str, str], code: str, path: str, corpus: str) -> str:
  """Harmonised name for `code`; raises LabelError naming `path` if unknown."""
  try:
    return table[code]
  except KeyError:
    raise LabelError(
        f'{path}: unknown {corpus} emotion code {code!r} '
        f'(known: {", ".join(sorted(table))})') from None


def ordered(names: Iterable[str]) -> tuple[str, ...]:
  """Distinct names in canonical `EMOTIONS` order (unknown names last, sorted)."""
  names = set(names)
  known = [e for e in EMOTIONS if e in names]
  return tuple(known + sorted(names - set(EMOTIONS)))
