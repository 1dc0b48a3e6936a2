"""The Colab notebook's code cells run on CPU with a tiny config, so it cannot
rot: the install cell is skipped and EMO-DB is absent, so the EMO-DB cells
run on the synthetic corpus through the same code."""
import os

import nbformat
import pytest
import tinyconfig

nbclient = pytest.importorskip('nbclient')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, 'experiments', 'notebooks', 'colab_tpu.ipynb')


@pytest.fixture(scope='module')
def executed(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('notebook')
  env = {'PATHNET_NOTEBOOK_SKIP_INSTALL': '1', 'PATHNET_NOTEBOOK_TINY': '1',
         'PATHNET_NOTEBOOK_WORKDIR': str(tmp / 'runs'),
         'PATHNET_NOTEBOOK_DATA_ROOT': str(tmp / 'no_corpora'),
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


def test_every_code_cell_ran(executed):
  code = [c for c in executed.cells if c.cell_type == 'code']
  assert code and all(c.get('execution_count') for c in code)


def test_install_cell_is_skipped_by_the_env_var(executed):
  install = next(c for c in executed.cells if 'pip install' in c.source)
  assert 'install skipped' in _text(install)


def test_runs_show_confusion_and_fitness_images(executed):
  images = [o for c in executed.cells for o in c.get('outputs', [])
            if 'image/png' in o.get('data', {})]
  assert len(images) == 4  # demo and EMO-DB cell: confusion + fitness each


def test_emodb_cells_fall_back_to_synthetic_without_the_corpus(executed):
  assert any('no EMO-DB at' in _text(c) for c in executed.cells)
