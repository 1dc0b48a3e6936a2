"""experiments/readme_tables.sh: rewrites only the marked blocks of
docs/results.md, and refuses to write when there is nothing to write from."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'experiments' / 'readme_tables.sh'
BLOCKS = ('cross_corpus', 'curves', 'anchor', 'issue20')


def _run(tmp_path, runs, doc, **extra_env):
  env = dict(os.environ, RUNS=str(runs), RESULTS_MD=str(doc), **extra_env,
             PATH=os.path.dirname(sys.executable) + os.pathsep
             + os.environ.get('PATH', ''),
             PYTHONPATH=str(ROOT))
  return subprocess.run(['bash', str(SCRIPT)], env=env, cwd=tmp_path,
                        capture_output=True, text=True, timeout=600)


def _outside_blocks(text):
  out, inside = [], False
  for line in text.split('\n'):
    if line.startswith('<!-- BEGIN readme_tables.sh '):
      inside = True
    if not inside:
      out.append(line)
    if line.startswith('<!-- END readme_tables.sh '):
      inside = False
  return out


def _block(text, name):
  begin = f'<!-- BEGIN readme_tables.sh {name} -->\n'
  return text[text.index(begin) + len(begin):
              text.index(f'\n<!-- END readme_tables.sh {name} -->')]


def test_results_md_has_one_marker_pair_per_block():
  text = (ROOT / 'docs' / 'results.md').read_text(encoding='utf-8')
  for name in BLOCKS:
    assert text.count(f'<!-- BEGIN readme_tables.sh {name} -->\n') == 1
    assert text.count(f'\n<!-- END readme_tables.sh {name} -->') == 1
    assert '| method' in _block(text, name)


def test_without_a_runs_folder_it_refuses_in_one_line(tmp_path):
  doc = tmp_path / 'results.md'
  shutil.copy(ROOT / 'docs' / 'results.md', doc)
  before = doc.read_bytes()
  proc = _run(tmp_path, tmp_path / 'no_such_runs', doc)
  assert proc.returncode == 1
  assert proc.stderr.strip().startswith('error: no runs folder')
  assert len(proc.stderr.strip().splitlines()) == 1
  assert doc.read_bytes() == before


def _write_runs(runs, named_uas):
  for name, uas in named_uas:
    (runs / name).mkdir(parents=True)
    seed = int(name.split('seed_')[1]) if 'seed_' in name else 0
    (runs / name / 'results.json').write_text(json.dumps({
        'seed': seed, 'config': {}, 'timings': {'total_s': 60.0},
        'folds': [{'fold': i, 'n_train_utterances': 40,
                   'utterance': {'ua': ua, 'wa': ua, 'n': 10}}
                  for i, ua in enumerate(uas)]}))


def _copy_results_md(tmp_path):
  doc = tmp_path / 'docs' / 'results.md'
  doc.parent.mkdir()
  shutil.copy(ROOT / 'docs' / 'results.md', doc)
  return doc


def test_it_rewrites_only_the_blocks_that_have_runs(tmp_path):
  runs = tmp_path / 'runs'
  _write_runs(runs, [('improved_random_s0', [0.6, 0.7]),
                     ('a_rav_emo_improved_s0', [0.7, 0.8])])
  doc = _copy_results_md(tmp_path)
  before = doc.read_text(encoding='utf-8')

  proc = _run(tmp_path, runs, doc)
  assert proc.returncode == 0, proc.stderr
  after = doc.read_text(encoding='utf-8')
  assert _outside_blocks(after) == _outside_blocks(before)
  cross = _block(after, 'cross_corpus')
  assert ('| `improved` transfer RAVDESS → EMO-DB | 2 × 1 | 0.750 ± 0.050 | '
          '0.750 ± 0.050 | 1.0 min | +0.100 (2/0) |') in cross
  assert 'EMO-DB → RAVDESS' not in cross  # a table with no run is left out
  assert '| `improved` | 2 × 1 |' in _block(after, 'anchor')
  assert (doc.parent / 'curve_ravdess_to_emodb.png').is_file()


def test_blocks_setting_rewrites_only_the_named_block(tmp_path):
  runs = tmp_path / 'runs'
  _write_runs(runs, [('improved_random_s0', [0.6, 0.7]),  # an anchor-block run
                     ('ic_emo_scratch_f0.25/seed_0', [0.6, 0.7]),
                     ('ic_rav_emo_f0.25/seed_0', [0.7, 0.9])])
  doc = _copy_results_md(tmp_path)
  before = doc.read_text(encoding='utf-8')

  proc = _run(tmp_path, runs, doc, BLOCKS='issue20')
  assert proc.returncode == 0, proc.stderr
  after = doc.read_text(encoding='utf-8')
  for name in ('cross_corpus', 'curves', 'anchor'):
    assert _block(after, name) == _block(before, name)
  block = _block(after, 'issue20')
  assert '25 % of each training fold' in block
  assert ('| `improved_compare` transfer RAVDESS → EMO-DB | 2 × 1 | '
          '0.800 ± 0.100 | 0.800 ± 0.100 | 1.0 min | +0.150 (2/0) |') in block


@pytest.fixture(scope='module')
def issue26(tmp_path_factory):
  """docs/results.md before and after BLOCKS=issue26 over runs of two cells
  and of one transfer (EMO-DB -> RAVDESS at 10 %, with its CNN): one run of
  the script, read by the tests below."""
  tmp_path = tmp_path_factory.mktemp('issue26')
  runs = tmp_path / 'runs'
  _write_runs(runs, [('ih_emodb_random/seed_0', [0.6, 0.7]),
                     ('ih_emodb_random/seed_1', [0.7, 0.8]),
                     ('ih_ravdess_loso/seed_0', [0.5, 0.6]),
                     ('ih_rav_scratch_f0.1/seed_0', [0.4, 0.5]),
                     ('ih_emo_rav_f0.1/seed_0', [0.5, 0.6]),
                     ('ft_emo_rav_f0.1/seed_0', [0.3, 0.3])])
  doc = _copy_results_md(tmp_path)
  before = doc.read_text(encoding='utf-8')
  proc = _run(tmp_path, runs, doc, BLOCKS='issue26')
  assert proc.returncode == 0, proc.stderr
  return before, doc.read_text(encoding='utf-8'), doc.parent


def test_issue26_block_has_improved_heldout_on_each_cell(issue26):
  before, after, _ = issue26
  assert _block(after, 'issue20') == _block(before, 'issue20')
  block = _block(after, 'issue26')
  label = '`improved_heldout` (held-out speakers as fitness; transductive)'
  assert f'| {label} | 2 × 2 | 0.700 ± 0.071 |' in block
  assert f'| {label} | 2 × 1 | 0.550 ± 0.050 |' in block
  assert 'RAVDESS, random 5-fold' not in block  # no run: no table


def test_issue26_transfer_tables_put_the_fine_tuned_cnn_beside_scratch(
    issue26):
  _, after, docs = issue26
  block = _block(after, 'issue26')
  heading = ('**EMO-DB → RAVDESS with `improved_heldout`, RAVDESS random '
             "5-fold, 10 % of each training fold's utterances**")
  against_scratch, against_cnn = block.split(heading)[1:3]
  assert ('| `improved_heldout` transfer EMO-DB → RAVDESS | 2 × 1 | '
          '0.550 ± 0.050 | 0.550 ± 0.050 | 1.0 min | +0.100 (2/0) |'
          ) in against_scratch
  assert ('| CNN pre-trained on EMO-DB (10 epochs), fine-tuned (10) | 2 × 1 '
          '| 0.300 ± 0.000 | 0.300 ± 0.000 | 1.0 min | -0.150 (0/2) |'
          ) in against_scratch
  assert against_cnn.startswith(', against the fine-tuned CNN')
  assert ('| `improved_heldout` transfer EMO-DB → RAVDESS | 2 × 1 | '
          '0.550 ± 0.050 | 0.550 ± 0.050 | 1.0 min | +0.250 (2/0) |'
          ) in against_cnn
  assert 'RAVDESS → EMO-DB with' not in block  # no run: no table
  assert (docs / 'curve_issue26_emodb_to_ravdess.png').exists()


def test_an_unknown_block_name_is_one_error_line(tmp_path):
  doc = _copy_results_md(tmp_path)
  before = doc.read_bytes()
  (tmp_path / 'runs').mkdir()
  proc = _run(tmp_path, tmp_path / 'runs', doc, BLOCKS='nope')
  assert proc.returncode == 1
  assert proc.stderr.strip() == (
      "error: unknown block 'nope' in BLOCKS (blocks: cross_corpus curves "
      'anchor issue20 issue26 issue35 issue33)')
  assert doc.read_bytes() == before


def _write_speed_runs(runs, named):
  """Runs with held-out curves: name -> (UAs, best held-out accuracy per
  generation of every fold)."""
  for name, (uas, best) in named.items():
    (runs / name).mkdir(parents=True)
    (runs / name / 'results.json').write_text(json.dumps({
        'seed': 0, 'timings': {'total_s': 60.0},
        'config': {'fitness': 'heldout', 'evolution': {'generations': 3}},
        'folds': [{'fold': i, 'n_train_utterances': 40,
                   'utterance': {'ua': ua, 'wa': ua, 'n': 10},
                   'history': {'best_fitness': best},
                   'sgd_steps_per_generation': 10}
                  for i, ua in enumerate(uas)]}))


@pytest.mark.slow  # a whole readme_tables.sh run; learning_speed has its specs
def test_issue33_block_compares_transfer_with_each_control_and_its_speed(
    tmp_path):
  runs = tmp_path / 'runs'
  _write_speed_runs(runs, {
      'l33_rav_emo_transfer_f0.1/seed_0': ([0.6, 0.7], [0.5, 0.8, 0.8]),
      'l33_rav_emo_independent_f0.1/seed_0': ([0.5, 0.6], [0.3, 0.5, 0.8]),
      'l33_rav_emo_scratch_f0.1/seed_0': ([0.5, 0.5], [0.4, 0.6, 0.7])})
  doc = _copy_results_md(tmp_path)
  proc = _run(tmp_path, runs, doc, BLOCKS='issue33')
  assert proc.returncode == 0, proc.stderr
  block = _block(doc.read_text(encoding='utf-8'), 'issue33')
  assert '10 % of each training fold' in block
  assert ('| independent control (every module, from scratch) | 2 × 1 | '
          '0.550 ± 0.050 |') in block
  # Threshold 0.95 * 0.8 = 0.76: transfer at 20 steps, the independent
  # control at 30, scratch never (its budget, 30).
  assert '| independent control | 30 | 1.50 | 2 / 0 |' in block
  assert '| PathNet scratch | 30 | 1.50 | 2 / 0 |' in block
  assert (doc.parent / 'speed_issue33_rav_emo_f0.1.png').is_file()
  assert (doc.parent / 'curve_issue33_rav_emo.png').is_file()
  assert 'EMO-DB → RAVDESS' not in block  # no run: no table
