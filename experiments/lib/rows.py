"""The paper's table rows (Nguyen et al. 2023) and the rows added beside
them: each a config module `experiments/configs/<name>.py` run by
experiments.reproduce, the corpora it reads, and the pairs its gains table
compares.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Sequence

from data_prep import labels
from experiments.lib import data


@dataclasses.dataclass(frozen=True)
class Row:
  """A table row: config module `experiments.configs.<name>`.

  method: 'pathnet' (experiments.train) or 'finetune' (experiments.finetune);
  paper: the paper's overall accuracy ('' for added rows); note: why an
  added row exists or how ours differs.
  """
  name: str
  label: str
  method: str
  paper: str = ''
  note: str = ''

  @property
  def added(self) -> bool:
    return not self.paper


FT_NOTE = 'CNN pre-trained on the source corpus (no ImageNet weights here)'
ROWS = (
    Row('a_emo', 'A_EMO', 'pathnet', '0.89'),
    Row('a_enter_sav_emo', 'A_eNTER+SAV→EMO', 'pathnet', '0.97'),
    Row('a_emo_ft', 'A_EMO fine-tuning', 'finetune', '0.83',
        FT_NOTE + ': eNTERFACE+SAVEE'),
    Row('a_sav_ft', 'A_SAV fine-tuning', 'finetune', '0.69',
        FT_NOTE + ': eNTERFACE'),
    Row('v_sav_ft', 'V_SAV fine-tuning', 'finetune', '0.85',
        FT_NOTE + ': eNTERFACE'),
    Row('v_enter_ft', 'V_eNTER fine-tuning', 'finetune', '0.88',
        FT_NOTE + ': SAVEE'),
    Row('v_sav', 'V_SAV', 'pathnet', '0.89'),
    Row('v_enter', 'V_eNTER', 'pathnet', '0.88'),
    Row('v_enter_sav', 'V_eNTER→SAV', 'pathnet', '0.94'),
    Row('v_sav_enter', 'V_SAV→eNTER', 'pathnet', '0.94'),
    Row('a_sav', 'A_SAV', 'pathnet', '0.81'),
    Row('a_enter_sav', 'A_eNTER→SAV', 'pathnet', '0.85 (Table 3: 0.71)'),
    Row('emodb_f2m', 'A_EMO♀→♂', 'pathnet',
        note='added: nearest transfer on EMO-DB alone (female → male)'),
    Row('emodb_m', 'A_EMO♂', 'pathnet',
        note='added: no-transfer reference for A_EMO♀→♂'),
    Row('emodb_f2m_ft', 'A_EMO♀→♂ fine-tuning', 'finetune',
        note='added: CNN pre-trained on the female speakers'),
    Row('emodb_m2f', 'A_EMO♂→♀', 'pathnet',
        note='added: nearest transfer on EMO-DB alone (male → female)'),
    Row('emodb_f', 'A_EMO♀', 'pathnet',
        note='added: no-transfer reference for A_EMO♂→♀'),
    Row('emodb_m2f_ft', 'A_EMO♂→♀ fine-tuning', 'finetune',
        note='added: CNN pre-trained on the male speakers'),
    Row('a_emo_cnn', 'A_EMO CNN, no pre-training', 'finetune',
        note='added: nearest to A_EMO fine-tuning without a source corpus'),
    Row('a_rav_emo', 'A_RAV→EMO', 'pathnet',
        note='added: nearest audio transfer to A_eNTER+SAV→EMO'),
    Row('a_rav_emo_ft', 'A_RAV→EMO fine-tuning', 'finetune',
        note='added: ' + FT_NOTE + ': RAVDESS'),
    Row('a_rav', 'A_RAV', 'pathnet',
        note='added: no-transfer reference for A_EMO→RAV'),
    Row('a_emo_rav', 'A_EMO→RAV', 'pathnet',
        note='added: EMO-DB → RAVDESS'),
    Row('a_emo_rav_ft', 'A_EMO→RAV fine-tuning', 'finetune',
        note='added: ' + FT_NOTE + ': EMO-DB'),
    Row('a_rav_cnn', 'A_RAV CNN, no pre-training', 'finetune',
        note='added: reference for A_EMO→RAV fine-tuning'),
    Row('a_rav_emom', 'A_RAV→EMO♂', 'pathnet',
        note='added: single-source reference for A_RAV+EMO♀→EMO♂'),
    Row('a_rav_emof_emom', 'A_RAV+EMO♀→EMO♂', 'pathnet',
        note='added: multi-source, RAVDESS and EMO-DB female speakers pooled'),
)
ROW_NAMES = tuple(r.name for r in ROWS)
# Row groups a --rows list may name.
GROUPS = {
    'cross_corpus': ('a_emo', 'a_emo_cnn', 'a_rav_emo', 'a_rav_emo_ft',
                     'a_rav', 'a_rav_cnn', 'a_emo_rav', 'a_emo_rav_ft',
                     'emodb_m', 'emodb_f2m', 'a_rav_emom', 'a_rav_emof_emom'),
}
# (row, reference): the gains table compares them over the same target folds.
GAINS = (
    ('a_rav_emo', 'a_emo'), ('a_rav_emo', 'a_rav_emo_ft'),
    ('a_rav_emo_ft', 'a_emo_cnn'),
    ('a_emo_rav', 'a_rav'), ('a_emo_rav', 'a_emo_rav_ft'),
    ('a_emo_rav_ft', 'a_rav_cnn'),
    ('a_rav_emof_emom', 'emodb_m'), ('a_rav_emof_emom', 'a_rav_emom'),
    ('a_rav_emof_emom', 'emodb_f2m'), ('emodb_f2m', 'emodb_m'),
    ('a_rav_emom', 'emodb_m'),
)


def expand_rows(names: Sequence[str]) -> list[str]:
  """Row names with GROUPS expanded, duplicates dropped, order kept."""
  out = []
  for name in names:
    out += [n for n in GROUPS.get(name, (name,)) if n not in out]
  return out


def row_config(row: Row):
  """The row's config, from experiments/configs/<name>.py."""
  return importlib.import_module(f'experiments.configs.{row.name}').get_config()


def specs(row: Row, config) -> tuple[str, ...]:
  """Target and source corpus specs of a row's config."""
  if row.method == 'finetune':
    return (config.target,) + ((config.source,) if config.source else ())
  return (config.target,) + tuple(config.sources)


def to_synthetic(spec: str) -> str:
  """Every corpus of a spec → the synthetic one, keeping the filters:
  'enterface+savee' -> 'synthetic', 'emodb:sex=f' -> 'synthetic:sex=f'."""
  parts = []
  for part in spec.split('+'):
    _, colon, filters = part.partition(':')
    new = 'synthetic' + colon + filters
    if new not in parts:
      parts.append(new)
  return '+'.join(parts)


def corpus_available(name: str, data_root: str, modality: str) -> bool:
  """Whether `data_root/name` (or the manifest 'manifest:PATH.csv') holds
  `modality` recordings of that corpus."""
  from data_prep import corpora  # pylint: disable=g-import-not-at-top
  root = None if corpora.is_manifest(name) else os.path.join(data_root, name)
  if root is not None and not os.path.isdir(root):
    return False
  try:
    return bool(corpora.read(name, root, modality))
  except ValueError:  # CorpusError, bad manifests and unparsable layouts
    return False


def row_corpora(names: Sequence[str]) -> list[str]:
  """Corpora with a reader that the named rows read (configs' specs)."""
  by_name = {r.name: r for r in ROWS}
  out = []
  for name in names:
    row = by_name[name]
    for spec in specs(row, row_config(row)):
      out += [n for n in data.corpus_names(spec)
              if n in labels.BY_CORPUS and n not in out]
  return out


def missing_corpora(row: Row, config, data_root: str) -> list[str]:
  """Corpora the row needs that are not under data_root (e.g. 'savee video')."""
  names = dict.fromkeys(n for s in specs(row, config)
                        for n in data.corpus_names(s))
  return [f'{n} ({config.modality})' for n in names
          if n != 'synthetic' and not data.is_feature_file(n) and
          not corpus_available(n, data_root, config.modality)]
