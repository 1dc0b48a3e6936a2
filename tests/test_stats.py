"""experiments.stats: fold summaries and paired tests over the same folds."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments.lib import stats
import inprocess
import tinyconfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_mean_std_is_population_std_over_all_values():
  assert stats.mean_std([0.5, 0.7, 0.6, 0.8]) == pytest.approx(
      {'mean': 0.65, 'std': math.sqrt(0.0125), 'n': 4})


def test_paired_test_matches_scipy_wilcoxon():
  a = [0.80, 0.75, 0.90, 0.70, 0.85, 0.78, 0.66, 0.91]
  b = [0.70, 0.76, 0.80, 0.60, 0.80, 0.70, 0.65, 0.85]
  t = stats.paired_test(a, b)
  # signed ranks of a - b: |d| = .10 .01 .10 .10 .05 .08 .01 .06, one negative
  # (rank 1.5): W = 1.5.
  assert t['statistic'] == pytest.approx(1.5)
  assert (t['n'], t['n_nonzero'], t['wins'], t['losses']) == (8, 8, 7, 1)
  assert t['mean_diff'] == pytest.approx(np.mean(np.subtract(a, b)))
  assert t['pvalue'] < 0.05 and t['note'] == ''


def test_all_zero_differences_give_p_one_and_say_so():
  t = stats.paired_test([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
  assert t['pvalue'] == 1.0 and t['n_nonzero'] == 0
  assert math.isnan(t['statistic'])
  assert t['note'] == 'all differences are zero'


def test_five_folds_can_never_be_significant():
  t = stats.paired_test([0.9] * 5, [0.1] * 5)  # a wins every fold
  assert t['smallest_p'] == 0.0625 and t['pvalue'] == pytest.approx(0.0625)
  assert 'cannot give p < 0.05' in t['note']


def test_zero_differences_are_dropped_before_ranking():
  t = stats.paired_test([0.5, 0.9, 0.8], [0.5, 0.1, 0.2])
  assert (t['n'], t['n_nonzero'], t['smallest_p']) == (3, 2, 0.5)


def test_unpaired_lengths_are_refused():
  with pytest.raises(ValueError, match='equal-length'):
    stats.paired_test([0.1, 0.2], [0.1])


def _train_results(seed, uas, n=(20, 21)):
  return {'seed': seed, 'folds': [
      {'fold': i, 'utterance': {'ua': u, 'wa': u, 'n': k}}
      for i, (u, k) in enumerate(zip(uas, n))]}


def _baseline_results(rows):
  return {'per_fold': [{'seed': s, 'fold': i, 'ua': u, 'wa': u, 'n': k}
                       for s, i, u, k in rows]}


def test_train_and_baseline_results_pair_by_seed_and_fold():
  pathnet = stats.merged_fold_scores([_train_results(0, [0.6, 0.7]),
                                      _train_results(1, [0.5, 0.8])])
  anchor = stats.fold_scores(_baseline_results(
      [(0, 0, 0.7, 20), (0, 1, 0.7, 21), (1, 0, 0.7, 20), (1, 1, 0.7, 21)]))
  c = stats.compare(pathnet, anchor)
  assert c['pairs'] == [[0, 0], [0, 1], [1, 0], [1, 1]]
  assert c['a']['mean'] == pytest.approx(0.65) and c['b']['mean'] == 0.7
  assert (c['test']['wins'], c['test']['losses']) == (1, 2)
  line = stats.format_comparison(c)
  assert 'a 0.650' in line and 'b 0.700' in line and 'over 4 folds' in line


def test_seed_independent_folds_count_once_when_averaged():
  pathnet = stats.merged_fold_scores([_train_results(0, [0.6, 0.7]),
                                      _train_results(1, [0.8, 0.9])])
  anchor = stats.merged_fold_scores([_train_results(0, [0.5, 0.5]),
                                     _train_results(1, [0.5, 0.5])])
  c = stats.compare(pathnet, anchor, average_seeds=True)
  assert c['pairs'] == [[-1, 0], [-1, 1]] and c['test']['n'] == 2
  assert c['a']['mean'] == pytest.approx(0.75)  # same mean as unaveraged
  assert c['a']['std'] == pytest.approx(0.05)  # of fold means 0.7 and 0.8
  assert 'over 2 folds (' in stats.format_comparison(c)


def test_folds_of_different_sizes_are_not_paired():
  a = stats.fold_scores(_train_results(0, [0.6, 0.7], n=(20, 21)))
  b = stats.fold_scores(_train_results(0, [0.6, 0.7], n=(19, 22)))
  with pytest.raises(ValueError, match='not the same folds'):
    stats.compare(a, b)


def test_a_seed_in_two_files_is_refused():
  with pytest.raises(ValueError, match='two results files'):
    stats.merged_fold_scores([_train_results(0, [0.6]),
                              _train_results(0, [0.7])])


def test_cli_prints_the_comparison(tmp_path):
  a, b = tmp_path / 'a.json', tmp_path / 'b.json'
  a.write_text(json.dumps(_train_results(0, [0.6, 0.7])))
  b.write_text(json.dumps(_baseline_results([(0, 0, 0.5, 20),
                                             (0, 1, 0.6, 21)])))
  # A subprocess: the binary's required flags must not enter this process.
  out = subprocess.run(
      [sys.executable, '-m', 'experiments.stats', f'--a={a}', f'--b={b}'],
      capture_output=True, text=True, cwd=REPO,
      timeout=tinyconfig.HANG_GUARD_S, check=True).stdout
  assert 'UA a 0.650 ± 0.050 | b 0.550 ± 0.050 | a - b +0.100' in out


def test_cli_compares_an_ensemble_run_with_its_own_best_pathway(tmp_path):
  run = _train_results(0, [0.6, 0.7])
  for fold, single in zip(run['folds'], (0.55, 0.6)):
    fold['single_best_utterance'] = {'ua': single, 'wa': single,
                                     'n': fold['utterance']['n']}
  path = tmp_path / 'ens.json'
  path.write_text(json.dumps(run))
  done = inprocess.run_binary('stats', [f'--a={path}', f'--b={path}',
                                        '--b_level=single_best_utterance'])
  assert done.returncode == 0, done.stderr
  out = done.stdout
  assert 'UA a 0.650 ± 0.050 | b 0.575 ± 0.025 | a - b +0.075' in out
