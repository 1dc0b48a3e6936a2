"""The level-field controls of a PathNet config (issue 33; DESIGN.md §6,
after Fernando et al. 2017), chosen by one field, `config.method`:

  pathnet        the method itself (the microbial GA over pathways).
  independent    Fernando et al.'s independent-learning control: the whole
                 network — every module of every layer active, i.e. the
                 capacity any pathway can reach — trained from scratch on
                 the target. A transfer config's sources only pick its rows
                 (shared_classes_only); nothing is transferred.
  finetune       the fine-tuning control: that whole network evolved on the
                 source with the source's budget, then every weight trained
                 on the target under a new head (nothing frozen).
  fixed_pathway  one random pathway, no selection, trained for the whole
                 budget: what the tournament adds. On a transfer config the
                 source is PathNet's and its frozen pathway joins, as in
                 PathNet transfer.

Each control runs on PathNet's own engine with the same view, normalisation,
folds, seeds, held-out rows, final phase, optimiser and step count: its
population is copies of one pathway (ga.POPULATION_INITS) and never mutates,
so each generation trains that pathway for the steps a tournament's pair
takes (2 x T per generation, the same count PathNet trains), and the
held-out rows choose and stop as they do for PathNet.
"""
from __future__ import annotations

METHODS = ('pathnet', 'independent', 'finetune', 'fixed_pathway')


def check(config) -> None:
  """One error naming config.method when it cannot run."""
  if config.method not in METHODS:
    raise ValueError(f'config.method must be one of {METHODS}, got '
                     f'{config.method!r}')
  if config.method == 'finetune' and config.task == 'scratch':
    raise ValueError("config.method='finetune' needs a source: config.task "
                     "'transfer' or 'multi_source' with config.sources")


def engine_config(config):
  """The config PathNet's engine runs for config.method: a copy with the
  control's population and network; `pathnet` returns config itself."""
  check(config)
  if config.method == 'pathnet':
    return config
  c = config.copy_and_resolve_references()
  with c.unlocked():
    c.evolution.mutation_rate = 0.0
    if config.method in ('independent', 'finetune'):
      c.model.max_active = c.model.num_modules
      c.evolution.population_init = 'all_modules'
    else:
      c.evolution.population_init = 'one_random'
    if config.method == 'independent':
      c.task = 'scratch'
  return c
