"""Not a paper row: multi-source RAVDESS + EMO-DB female speakers pooled into
one source task → EMO-DB male speakers (issue 12). Compare with each single
source (a_rav_emom.py, emodb_f2m.py) and scratch (emodb_m.py).

  python -m experiments.train --config=experiments/configs/a_rav_emof_emom.py \
      --workdir=runs/a_rav_emof_emom
"""
from experiments.configs import default


def get_config():
  c = default.get_config()
  c.task = 'multi_source'
  c.sources = ('ravdess', 'emodb:sex=f')
  c.target = 'emodb:sex=m'
  return c
