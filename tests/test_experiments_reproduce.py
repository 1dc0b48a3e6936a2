"""experiments.reproduce: the paper-vs-ours table, on the synthetic corpus."""
import json
import os
import re

import numpy as np
import pytest

from experiments.lib import reproduce
from experiments.lib import reproduce_readme
from experiments.lib import rows as rows_lib
from experiments.lib import splits

ROWS = ('a_emo', 'emodb_f2m_ft')


def tiny(row, config):
  """Shrinks a row's run to seconds (4 speakers, 3 classes, tiny models)."""
  config.synthetic = dict(num_speakers=4, num_classes=3,
                          utterances_per_class=3)
  if row.method == 'pathnet':
    config.model.num_modules = 4
    config.model.module_units = 8
    config.evolution.population_size = 4
    config.evolution.checkpoint_every = 0
    config.optim.batch_size = 16
  else:
    config.model.conv_features = (4, 8, 8, 8, 8)
    config.model.dense_features = (16,)
    config.batch_size = 8


@pytest.fixture(scope='module')
def table(tmp_path_factory):
  out = str(tmp_path_factory.mktemp('results'))
  kwargs = dict(data_root='unused', rows=ROWS, generations=2, max_folds=1,
                epochs=1, synthetic=True, adjust=tiny)
  outcome = reproduce.reproduce(out, **kwargs)
  return out, kwargs, outcome


def _table_rows(out):
  with open(os.path.join(out, 'README.md')) as f:
    text = f.read()
  rows = {}
  for line in text.splitlines():
    cells = [c.strip() for c in line.strip('|').split('|')]
    if line.startswith('| ') and len(cells) > 3 and cells[0] != 'row':
      rows[cells[0]] = cells
  return text, rows


def test_every_row_runs_both_protocols_into_the_table(table):
  out, _, outcome = table
  text, rows = _table_rows(out)
  assert 'Quick run' in text and 'not comparable with the paper' in text
  assert set(rows) == {'A_EMO', 'A_EMO♀→♂ fine-tuning'}
  assert rows['A_EMO'][1:3] == ['PathNet', '0.89']
  assert rows['A_EMO♀→♂ fine-tuning'][1:3] == ['CNN', '(added)']
  for name, label in (('a_emo', 'A_EMO'),
                      ('emodb_f2m_ft', 'A_EMO♀→♂ fine-tuning')):
    for i, protocol in enumerate(reproduce.PROTOCOLS):
      with open(os.path.join(out, f'{name}_{protocol}', 'results.json')) as f:
        results = json.load(f)
      assert results['protocol'] == protocol and results['n_folds'] == 1
      assert results == outcome[name]['runs'][protocol]
      agg = results['aggregate']
      wa, ua, seg = rows[label][3 + 3 * i:6 + 3 * i]
      assert wa == (f"[{agg['utterance']['wa_mean']:.3f} ± 0.000]"
                    f'({name}_{protocol}/summary.md)')
      assert ua == f"{agg['utterance']['ua_mean']:.3f} ± 0.000"
      assert seg == f"{agg['segment']['wa_mean']:.3f} ± 0.000"
      assert os.path.isfile(os.path.join(out, f'{name}_{protocol}',
                                         'summary.md'))


def test_fine_tuning_row_reads_the_filtered_corpora(table):
  _, _, outcome = table
  run = outcome['emodb_f2m_ft']['runs']['speaker_kfold']
  assert run['method'] == 'finetune_cnn'
  assert (run['source'], run['target']) == ('synthetic:sex=f',
                                            'synthetic:sex=m')
  assert run['n_folds_total'] == 2  # the two male speakers, one out each
  assert run['n_utterances'] == 18  # 2 speakers x 3 classes x 3


def test_rerun_reuses_finished_runs(table):
  out, kwargs, _ = table
  path = os.path.join(out, 'a_emo_random_kfold', 'results.json')
  before = os.stat(path).st_mtime_ns
  reproduce.reproduce(out, **kwargs)
  assert os.stat(path).st_mtime_ns == before


def test_rows_with_missing_corpora_are_marked(tmp_path):
  (tmp_path / 'data').mkdir()
  reproduce.reproduce(str(tmp_path / 'out'), data_root=str(tmp_path / 'data'),
                      rows=['a_emo', 'v_enter_sav', 'a_enter_sav_emo'])
  text, rows = _table_rows(str(tmp_path / 'out'))
  assert rows['A_EMO'][-1] == 'not run: corpus emodb (audio) not found'
  assert rows['V_eNTER→SAV'][-1] == ('not run: corpus savee (video), '
                                     'enterface (video) not found')
  assert rows['A_eNTER+SAV→EMO'][2] == '0.97'
  assert rows['A_eNTER+SAV→EMO'][3:9] == ['—'] * 6
  assert 'no corpus found' in text
  assert sorted(os.listdir(tmp_path / 'out')) == ['README.md',
                                                 reproduce.LOCK_NAME]


def test_unknown_row_is_rejected(tmp_path):
  with pytest.raises(ValueError, match=re.escape("unknown rows ['a_nope']")):
    reproduce.reproduce(str(tmp_path), data_root=str(tmp_path),
                        rows=['a_nope'])


def test_to_synthetic_keeps_filters_and_merges_pools():
  assert rows_lib.to_synthetic('enterface+savee') == 'synthetic'
  assert rows_lib.to_synthetic('emodb:sex=f') == 'synthetic:sex=f'


def test_every_row_has_a_config_naming_known_corpora():
  for row in rows_lib.ROWS:
    config = rows_lib.row_config(row)
    assert rows_lib.specs(row, config), row.name
    for spec in rows_lib.specs(row, config):
      assert set(reproduce.data.corpus_names(spec)) <= {
          'emodb', 'savee', 'enterface', 'ravdess'}


def test_second_protocol_starts_from_the_first_ones_source(tmp_path):
  by_name = {r.name: r for r in rows_lib.ROWS}
  first = tmp_path / 'emodb_f2m_random_kfold'
  (first / 'source' / 'checkpoints' / '2').mkdir(parents=True)
  second = str(tmp_path / 'emodb_f2m_speaker_kfold')
  transfer = by_name['emodb_f2m']
  config = rows_lib.row_config(transfer)
  assert reproduce.share_source(transfer, config, str(first), second)
  assert os.path.isdir(os.path.join(second, 'source', 'checkpoints', '2'))
  assert not reproduce.share_source(transfer, config, str(first), second)
  scratch = by_name['a_emo']
  assert not reproduce.share_source(scratch, rows_lib.row_config(scratch),
                                    str(first), str(tmp_path / 'other'))


def tiny_small_batches(row, config):
  tiny(row, config)
  config.optim.batch_size = 8  # half a training fold is ~15 segments


@pytest.fixture(scope='module')
def seeded(tmp_path_factory):
  """Transfer and its scratch reference, 2 seeds x 2 training fractions."""
  out = str(tmp_path_factory.mktemp('seeded'))
  outcome = reproduce.reproduce(
      out, data_root='unused', rows=['emodb_f2m', 'emodb_m'],
      protocols=['random_kfold'], generations=2, max_folds=1, synthetic=True,
      adjust=tiny_small_batches, seeds=(0, 1), train_fractions=(0.5, 1.0))
  return out, outcome


@pytest.mark.slow  # 8 tiny runs: ~2-5 min on the 2-core machine
def test_seeds_are_pooled_in_the_table(seeded):
  out, outcome = seeded
  runs = outcome['emodb_m']['seeds']['random_kfold']
  assert sorted(runs) == [0, 1]
  assert runs[1]['seed'] == 1 and runs[1]['config']['train_fraction'] == 1
  # Both seeds in one batch: each seed's results in its seed_<s>/ folder.
  assert os.path.isdir(os.path.join(out, 'emodb_m_random_kfold_seeds0-1',
                                    'seed_1'))
  assert os.path.isdir(os.path.join(out,
                                    'emodb_m_random_kfold_seeds0-1_frac0.5'))
  ua = [f['utterance']['ua'] for r in runs.values() for f in r['folds']]
  _, rows = _table_rows(out)
  assert rows['A_EMO♂'][4] == f'{np.mean(ua):.3f} ± {np.std(ua):.3f}'


@pytest.mark.slow  # 8 tiny runs: ~2-5 min on the 2-core machine
def test_gains_pair_the_same_seeds_and_folds(seeded):
  out, outcome = seeded
  gain = reproduce_readme.paired_gain(outcome['emodb_f2m']['seeds']['random_kfold'],
                               outcome['emodb_m']['seeds']['random_kfold'])
  diff = [a['utterance']['ua'] - b['utterance']['ua']
          for s in (0, 1)
          for a, b in zip(
              outcome['emodb_f2m']['seeds']['random_kfold'][s]['folds'],
              outcome['emodb_m']['seeds']['random_kfold'][s]['folds'])]
  assert gain['n'] == 2 and gain['mean'] == pytest.approx(np.mean(diff))
  assert gain['wins'] == sum(d > 0 for d in diff)
  text, _ = _table_rows(out)
  assert '## Gains' in text
  assert f"| A_EMO♀→♂ | A_EMO♂ | random_kfold | {gain['mean']:+.3f}" in text


@pytest.mark.slow  # 8 tiny runs: ~2-5 min on the 2-core machine
def test_learning_curves_are_plotted_per_target(seeded):
  out, outcome = seeded
  half = outcome['emodb_m']['curve']['random_kfold'][0.5][0]
  full = outcome['emodb_m']['curve']['random_kfold'][1.0][0]
  assert (half['folds'][0]['n_train_utterances']
          < full['folds'][0]['n_train_utterances'])
  assert half['folds'][0]['n_test_rows'] == full['folds'][0]['n_test_rows']
  text, _ = _table_rows(out)
  png = 'curve_synthetic_sex_m_random_kfold.png'
  assert f']({png})' in text
  with open(os.path.join(out, png), 'rb') as f:
    assert f.read(4) == b'\x89PNG'


def test_paired_gain_test_statistic():
  def runs(uas):
    return {0: {'folds': [{'fold': i, 'utterance': {'wa': u, 'ua': u},
                           'segment': {'wa': u}} for i, u in enumerate(uas)]}}
  gain = reproduce_readme.paired_gain(runs([0.6, 0.7, 0.9]), runs([0.5, 0.5, 0.6]))
  assert gain['mean'] == pytest.approx(0.2) and gain['wins'] == 3
  # Wilcoxon signed-rank (stats.paired_test): 3 of 3 pairs won, exact
  # two-sided p = 2 / 2**3.
  assert gain['p'] == pytest.approx(0.25)
  assert reproduce_readme.paired_gain(runs([0.5]), {}) is None


def test_shared_classes_and_improved_options_shape_the_configs():
  by_name = {r.name: r for r in rows_lib.ROWS}
  assert rows_lib.row_corpora(['a_rav_emo_ft', 'a_emo']) == ['emodb',
                                                              'ravdess']
  c = reproduce.run_config(by_name['a_rav_emof_emom'], 'random_kfold',
                           data_root='d', cache_dir='c',
                           classes=('anger', 'fear'), pathnet='improved',
                           seed=2, train_fraction=0.25)
  assert c.target == 'emodb:sex=m;label=anger,fear'
  assert c.sources == ('ravdess:label=anger,fear',
                       'emodb:sex=f;label=anger,fear')
  assert c.model.input_view == 'time_pooled' and c.seed == 2
  assert c.train_fraction == 0.25
  ft = reproduce.run_config(by_name['a_rav_emo_ft'], 'random_kfold',
                            data_root='d', cache_dir='c', classes=('anger',),
                            pathnet='improved')
  assert (ft.target, ft.source) == ('emodb:label=anger', 'ravdess:label=anger')
  assert 'input_view' not in ft.model  # improved is a PathNet variant


def test_cross_corpus_group_names_rows_with_configs():
  rows = rows_lib.expand_rows(['cross_corpus', 'a_emo'])
  assert rows[0] == 'a_emo' and rows.count('a_emo') == 1
  assert set(rows) <= set(rows_lib.ROW_NAMES)
  assert {a for pair in rows_lib.GAINS for a in pair} <= set(rows)


def test_speaker_folds_are_leave_one_out_for_the_shared_ravdess_actors():
  # issue 11: 12 LOSO folds on RAVDESS actors 01–12, 10 on EMO-DB.
  row = {r.name: r for r in rows_lib.ROWS}['a_emo_rav']
  c = reproduce.run_config(row, 'speaker_kfold', data_root='d', cache_dir='c')
  speakers = np.repeat([f'{a:02d}' for a in range(1, 13)], 4)
  data = {'speaker': speakers, 'label': np.tile(np.arange(4), 12),
          'utterance': np.arange(48)}
  folds = splits.make_folds(c.protocol, data, c.n_splits, seed=0)
  assert [set(speakers[te]) for _, te in folds] == [
      {f'{a:02d}'} for a in range(1, 13)]


@pytest.mark.parametrize('row_name', ['a_emo', 'a_rav_emo_ft'])
def test_several_seeds_become_one_batch_of_the_row(row_name):
  row = {r.name: r for r in rows_lib.ROWS}[row_name]
  c = reproduce.run_config(row, 'random_kfold', data_root='d',
                           cache_dir='c', seeds=(2, 0, 1))
  assert (c.seed, tuple(c.seeds)) == (2, (2, 0, 1))
  one = reproduce.run_config(row, 'random_kfold', data_root='d',
                             cache_dir='c', seeds=(3,))
  assert (one.seed, tuple(one.seeds)) == (3, ())
  assert reproduce.run_dir('o', row_name, 'random_kfold', (2, 0, 1)) == (
      os.path.join('o', f'{row_name}_random_kfold_seeds2-0-1'))
