"""The Colab notebook's code cells run on CPU with a tiny config, so it cannot
rot: the install cell is skipped and EMO-DB is absent, so the EMO-DB cells
run on the synthetic corpus through the same code; the own-manifest cell
trains on a manifest of eight tones."""
import contextlib
import io
import json
import os

import nbformat
import pytest
import tinyconfig

from data_prep import store
from data_prep import testing

nbclient = pytest.importorskip('nbclient')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, 'experiments', 'notebooks', 'colab_tpu.ipynb')


def tones_manifest(folder, cache_dir):
  """8 tones of 0.8 s (anger low, sadness high; 4 speakers) and their CSV,
  their features already in `cache_dir` (extracted here, in this process:
  the binary's worker pool would take longer to start than the work)."""
  rows = []
  for i in range(8):
    testing.write_wav(folder / f'tone{i}.wav',
                      testing.tone(0.8, freq=(200, 500)[i % 2], seed=i))
    rows.append(f'tone{i}.wav,{("anger", "sadness")[i % 2]},s{i // 2}\n')
  path = folder / 'tones.csv'
  path.write_text('path,label,speaker\n' + ''.join(rows))
  store.cached_features(f'manifest:{path}', None, 'audio', cache_dir,
                        workers=1, on_error='skip', progress=False)
  return path


@pytest.fixture(scope='module')
def notebook_dir(tmp_path_factory):
  """The notebook's folder: its WORKDIR is runs/ inside."""
  return tmp_path_factory.mktemp('notebook')


@pytest.fixture(scope='module')
def executed(notebook_dir):
  tmp = notebook_dir
  env = {'PATHNET_NOTEBOOK_SKIP_INSTALL': '1', 'PATHNET_NOTEBOOK_TINY': '1',
         'PATHNET_NOTEBOOK_WORKDIR': str(tmp / 'runs'),
         'PATHNET_NOTEBOOK_DATA_ROOT': str(tmp / 'no_corpora'),
         'PATHNET_NOTEBOOK_MANIFEST': str(
             tones_manifest(tmp, tmp / 'runs' / 'features')),
         'JAX_PLATFORMS': 'cpu', 'MPLBACKEND': 'Agg',
         'PYTHONPATH': os.pathsep.join(
             [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p])}
  saved = {k: os.environ.get(k) for k in env}
  os.environ.update(env)  # the kernel inherits this process's environment
  try:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=tinyconfig.HANG_GUARD_S,
                            kernel_name='python3',
                            resources={'metadata': {'path': ROOT}}).execute()
  finally:
    for k, v in saved.items():
      if v is None:
        os.environ.pop(k, None)
      else:
        os.environ[k] = v
  return nb


def _text(cell) -> str:
  out = []
  for o in cell.get('outputs', []):
    out.append(o.get('text', ''))
    out.extend(str(v) for k, v in o.get('data', {}).items()
               if k.startswith('text/'))
  return ''.join(out)


def test_per_fold_table_shows_the_runs_scores_and_a_speed(executed,
                                                         notebook_dir):
  text = _text(_cell(executed, 'Per fold'))
  rows = [l for l in text.splitlines() if l.startswith('| 0 |')]
  assert len(rows) == 1, text  # the tiny run evaluates fold 0 only
  _, wa, ua, seconds, rate = (float(c) for c in rows[0].strip('|').split('|'))
  with open(notebook_dir / 'runs' / 'synthetic_parallel' / 'results.json') as f:
    fold, = json.load(f)['folds']
  assert wa == pytest.approx(fold['utterance']['wa'], abs=5e-4)
  assert ua == pytest.approx(fold['utterance']['ua'], abs=5e-4)
  assert seconds > 0 and rate > 0


def test_install_cell_is_skipped_by_the_env_var(executed):
  install = next(c for c in executed.cells if 'pip install' in c.source)
  assert 'install skipped' in _text(install)


def test_runs_show_confusion_and_fitness_images(executed):
  images = [o for c in executed.cells for o in c.get('outputs', [])
            if 'image/png' in o.get('data', {})]
  assert len(images) == 6  # demo, EMO-DB, own manifest: confusion + fitness


def test_emodb_cells_fall_back_to_synthetic_without_the_corpus(executed):
  assert any('no EMO-DB at' in _text(c) for c in executed.cells)


def _cell(nb, title):
  return next(c for c in nb.cells if c.source.startswith(f'#@title {title}'))


def test_devices_cell_names_each_device_and_its_kind(executed):
  text = _text(_cell(executed, 'Devices'))
  assert 'platform cpu' in text and 'found: 1 x CPU (cpu)' in text


def test_own_manifest_cell_trains_with_the_flag_and_predicts_a_file(executed):
  text = _text(_cell(executed, 'Train on your own manifest'))
  assert '--config.target=manifest:' in text and 'tones.csv' in text
  predicted = text.split('$ python -m experiments.predict')[1]
  assert 'tone0.wav' in predicted
  assert 'anger' in predicted and 'sadness' in predicted


def test_own_manifest_cell_says_it_skips_without_a_manifest(monkeypatch):
  """The cell's code with MANIFEST left empty (run here, not in a kernel)."""
  monkeypatch.delenv('PATHNET_NOTEBOOK_MANIFEST', raising=False)
  cell = _cell(nbformat.read(NOTEBOOK, as_version=4),
               'Train on your own manifest')
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(cell.source, {'os': os, 'sys': __import__('sys'),  # pylint: disable=exec-used
                       'WORKDIR': 'unused', 'TINY': True, 'TOURNAMENTS': 1})
  assert out.getvalue().startswith('MANIFEST is empty')
