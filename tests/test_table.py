"""experiments.table: one markdown row per method, tested against an anchor
over the folds both share."""
import pytest

from experiments.lib import tables as table


def _train_results(seed, uas, wall=60.0):
  return {'seed': seed, 'timings': {'total_s': wall},
          'folds': [{'fold': i, 'utterance': {'ua': ua, 'wa': ua + 0.01,
                                              'n': 10}}
                    for i, ua in enumerate(uas)]}


def _baseline_results(uas):
  return {'per_fold': [{'seed': 0, 'fold': i, 'ua': ua, 'wa': ua, 'n': 10}
                       for i, ua in enumerate(uas)]}


def test_row_gives_means_wall_and_the_paired_difference_to_the_anchor():
  anchor = [_baseline_results([0.5] * 6)]
  row = table.row_markdown('m', [_train_results(0, [0.6] * 6, wall=120.0)],
                           anchor, average_seeds=False)
  cells = [c.strip() for c in row.strip('|').split('|')]
  assert cells[:5] == ['m', '6 × 1', '0.610 ± 0.000', '0.600 ± 0.000',
                       '2.0 min']
  assert cells[5] == '+0.100 (6/0)'
  assert cells[6] == '0.031 (6)'  # Wilcoxon, 6 wins of 6: 2 / 2**6


def test_seeds_pool_into_folds_times_seeds():
  results = [_train_results(0, [0.4, 0.6]), _train_results(1, [0.5, 0.7])]
  row = table.row_markdown('m', results, None, average_seeds=False)
  assert '| 2 × 2 |' in row and '0.550 ± 0.112' in row


def test_a_row_spec_needs_a_label_and_paths():
  with pytest.raises(ValueError, match=r'label\|path'):
    table.read_row('no-paths')
