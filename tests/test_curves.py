"""experiments.curves: learning-curve points from finished runs, grouped by
each run's training fraction."""
import json
import os
import subprocess
import sys

from experiments import curves
import inprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _results(fraction, uas, n_train):
  return {'config': {'train_fraction': fraction}, 'seed': 0,
          'folds': [{'n_train_utterances': n_train,
                     'utterance': {'ua': ua}} for ua in uas]}


def test_points_group_runs_by_fraction_and_pool_their_folds():
  runs = [_results(1.0, [0.6, 0.8], 400), _results(0.25, [0.4, 0.6], 100),
          _results(0.25, [0.5, 0.5], 100)]
  points = curves.curve_points(runs)
  assert [p['fraction'] for p in points] == [0.25, 1.0]
  assert points[0]['n'] == 4 and points[0]['n_train'] == 100
  assert abs(points[0]['mean'] - 0.5) < 1e-9
  assert abs(points[0]['std'] - (0.005 ** 0.5)) < 1e-9
  assert abs(points[1]['mean'] - 0.7) < 1e-9


def test_markdown_marks_a_fraction_a_method_lacks():
  lines = {'a': curves.curve_points([_results(0.5, [0.5], 50),
                                     _results(1.0, [0.7], 100)]),
           'b': curves.curve_points([_results(1.0, [0.6], 100)])}
  text = curves.markdown(lines).splitlines()
  assert text[0] == ('| method | 0.5 of each training fold | '
                     '1 of each training fold |')
  assert text[2] == '| a | 0.500 ± 0.000 (50 utt.) | 0.700 ± 0.000 (100 utt.) |'
  assert text[3] == '| b | – | 0.600 ± 0.000 (100 utt.) |'


def test_the_binary_writes_the_png_and_prints_the_table(tmp_path):
  paths = []
  for i, f in enumerate([0.5, 1.0]):
    p = tmp_path / f'r{i}.json'
    p.write_text(json.dumps(_results(f, [0.5 + f / 4], int(100 * f))))
    paths.append(str(p))
  out = tmp_path / 'c.png'
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.curves', f'--out={out}',
       f"--line=m|{','.join(paths)}"], capture_output=True, text=True,
      check=True, cwd=ROOT)
  assert out.read_bytes()[:4] == b'\x89PNG'
  assert '| m | 0.625 ± 0.000 (50 utt.) | 0.750 ± 0.000 (100 utt.) |' in (
      proc.stdout)


def test_the_binary_names_a_missing_file_in_one_error_line(tmp_path):
  proc = inprocess.run_binary('curves', [f'--out={tmp_path}/c.png',
                                         f'--line=m|{tmp_path}/absent.json'])
  assert proc.returncode != 0
  assert proc.stderr.strip().startswith('error:')
  assert 'absent.json' in proc.stderr


def test_gains_are_per_fraction_and_the_test_pools_every_shared_pair():
  def res(fraction, uas, seed=0):
    r = _results(fraction, uas, 10)
    r['seed'] = seed
    for i, f in enumerate(r['folds']):
      f['fold'] = i
    return r
  uas = {'scratch': curves.fold_uas([res(0.5, [0.5, 0.5]), res(1.0, [0.6, 0.6])]),
         'transfer': curves.fold_uas([res(0.5, [0.6, 0.7]), res(1.0, [0.7, 0.6])])}
  text = curves.gain_markdown(uas, 'scratch').splitlines()
  assert text[0] == '| method − scratch | 0.5 | 1 | all pairs: Wilcoxon p (pairs) |'
  cells = [c.strip() for c in text[2].strip('|').split('|')]
  assert cells[:3] == ['transfer', '+0.150 (2/0)', '+0.050 (1/0)']
  assert cells[3].startswith('+0.100, p ') and cells[3].endswith('(4)')
