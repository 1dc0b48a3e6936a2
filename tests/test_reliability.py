"""What happens to real runs: a test speaker lacking a class, a corrupt
checkpoint or scores file, two runs on one workdir, and bad inputs fed
through the binary (one `error:` line, exit 1, nothing half-written)."""
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from data_prep import store
from data_prep import testing
from experiments.lib import data
from experiments.lib import pathnet_protocol
from pathnet_jax import metrics
from pathnet_jax import checkpoint as ckpt_lib
from experiments.lib import workdir as workdir_lib
import inprocess
import tinyconfig
from test_checkpoint import _overwrite_data_files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What a fold's scores hold that must not depend on how the run got there.
DETERMINISTIC_KEYS = ('segment', 'utterance', 'best_genotype', 'best_fitness',
                      'n_train_rows', 'n_test_rows')


def tiny_config(**overrides):
  """18 synthetic utterances (3 speakers x 3 classes x 2), 4 generations."""
  return tinyconfig.synthetic_run_config(generations=4, checkpoint_every=1,
                                         **overrides)


def _fold_essentials(results):
  return [{k: metrics.jsonable(f[k]) for k in DETERMINISTIC_KEYS}
          for f in results['folds']]


# Leave-one-speaker-out where a test speaker never produced one class.

@pytest.fixture(scope='module')
def speaker_without_a_class(tmp_path_factory):
  """The tiny synthetic corpus without speaker 0's utterances of class 2."""
  config = tiny_config()
  fs = data.load_corpus('synthetic', config)
  speakers = np.unique(fs.speaker)
  drop = (fs.speaker == speakers[0]) & (fs.label == 2)
  path = tmp_path_factory.mktemp('corpus') / 'lacking.npz'
  store.save(store.select(fs, np.flatnonzero(~drop)), path)
  return str(path), str(speakers[0])


def test_loso_with_a_speaker_lacking_a_class_ends_with_results(
    speaker_without_a_class, tmp_path):
  path, speaker = speaker_without_a_class
  config = tiny_config(target=path, protocol='speaker_kfold', n_splits=0,
                       folds=(), evolution=dict(generations=1,
                                                checkpoint_every=0))
  results = pathnet_protocol.train_and_evaluate(config, str(tmp_path))
  with open(tmp_path / 'results.json') as f:
    written = json.load(f)
  assert written['n_folds'] == 3
  lacking = [f for f in written['folds']
             if f['utterance']['per_class_recall'][2] is None]
  assert len(lacking) == 1  # speaker 0's fold: missing, null in JSON
  in_memory = [f for f in results['folds']
               if np.isnan(f['utterance']['per_class_recall'][2])]
  assert [f['fold'] for f in in_memory] == [lacking[0]['fold']]
  # Left out of the mean: the mean of the two folds that have the class.
  others = [f['utterance']['per_class_recall'][2] for f in written['folds']
            if f is not lacking[0]]
  assert written['aggregate']['utterance']['per_class_recall_mean'][2] == (
      pytest.approx(np.mean(others)))
  # The rerun reads the folds back from scores.json (null) and agrees.
  again = pathnet_protocol.train_and_evaluate(config, str(tmp_path))
  np.testing.assert_array_equal(
      again['aggregate']['utterance']['per_class_recall_mean'],
      results['aggregate']['utterance']['per_class_recall_mean'])


# Damaged files of a finished run.

@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('finished') / 'run'
  config = tiny_config()
  return config, workdir, pathnet_protocol.train_and_evaluate(config, str(workdir))


def test_corrupt_newest_checkpoint_resumes_from_previous_with_same_results(
    finished, tmp_path, caplog):
  config, source, results = finished
  workdir = tmp_path / 'run'
  shutil.copytree(source, workdir)
  os.remove(workdir / 'fold_0' / 'scores.json')  # as if killed at the end
  batch, = (workdir / 'checkpoints').iterdir()  # the batch of fold 0
  _overwrite_data_files(str(batch / '4'))
  with caplog.at_level(logging.WARNING):
    again = pathnet_protocol.train_and_evaluate(config, str(workdir))
  assert '4.corrupt' in caplog.text
  assert sorted(os.listdir(batch)) == ['3', '4', '4.corrupt']
  assert _fold_essentials(again) == _fold_essentials(results)


@pytest.mark.parametrize('content', [b'', b'{"fold": 0, "segm', b'[1, 2]'],
                         ids=['empty', 'truncated', 'not scores'])
def test_unreadable_scores_of_a_finished_fold_are_recomputed(
    finished, tmp_path, caplog, content):
  config, source, results = finished
  workdir = tmp_path / 'run'
  shutil.copytree(source, workdir)
  (workdir / 'fold_0' / 'scores.json').write_bytes(content)
  with caplog.at_level(logging.WARNING):
    again = pathnet_protocol.train_and_evaluate(config, str(workdir))
  assert 'recomputing fold 0' in caplog.text
  assert _fold_essentials(again) == _fold_essentials(results)
  with open(workdir / 'fold_0' / 'scores.json') as f:
    assert json.load(f)['fold'] == 0


def test_outputs_are_written_whole_with_no_temporary_left(finished):
  _, workdir, _ = finished
  names = [n for _, _, files in os.walk(workdir) for n in files]
  assert not [n for n in names if '.tmp' in n]
  with open(workdir / workdir_lib.LOCK_NAME) as f:
    assert int(f.read()) == os.getpid()


# One run per workdir.

HOLD_LOCK = '''
import sys, time
from experiments.lib import workdir
with workdir.exclusive(sys.argv[1]):
  print('locked', flush=True)
  time.sleep(120)
'''


def test_second_run_on_a_workdir_in_use_fails_at_once_and_writes_nothing(
    tmp_path):
  workdir = tmp_path / 'run'
  holder = subprocess.Popen([sys.executable, '-c', HOLD_LOCK, str(workdir)],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'locked'
    before = sorted(os.listdir(workdir))
    proc = _cli(f'--workdir={workdir}', '--config.evolution.generations=1')
    assert proc.returncode == 1
    assert _error_lines(proc) == [
        f"error: workdir '{workdir}' is in use by process {holder.pid}"]
    assert sorted(os.listdir(workdir)) == before == [workdir_lib.LOCK_NAME]
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
  # The holder died: its stale lock is taken over.
  with workdir_lib.exclusive(str(workdir)):
    with open(workdir / workdir_lib.LOCK_NAME) as f:
      assert int(f.read()) == os.getpid()


def test_lock_is_exclusive_within_a_process_too(tmp_path):
  with workdir_lib.exclusive(str(tmp_path)):
    with pytest.raises(workdir_lib.InUse, match=f'process {os.getpid()}'):
      with workdir_lib.exclusive(str(tmp_path)):
        pass


def test_unknown_field_in_a_config_file_names_the_nearest_valid_one(
    tmp_path, capsys):
  config = tiny_config()
  config.optim.learnin_rate = 0.1  # a typo in a user's config file
  assert pathnet_protocol.run(config, str(tmp_path / 'run')) == 1
  assert capsys.readouterr().err.strip() == (
      "error: unknown config field 'optim.learnin_rate'; did you mean "
      "'optim.learning_rate'?")
  assert not (tmp_path / 'run').exists()


# Bad inputs through the binary.

def _cli(*args):
  """`python -m experiments.train ARGS`, run in this process (its one
  subprocess smoke test is in test_experiments_train)."""
  return inprocess.run_binary('train', ['--nocompilation_cache', *args])


def _error_lines(proc):
  return [l for l in proc.stderr.splitlines() if l.startswith('error:')]


def _emodb_tree(root, bad_name, bad_bytes):
  """An EMO-DB layout holding one bad recording (one file: extracted in this
  process, no worker pool to start)."""
  wav = root / 'emodb' / 'wav'
  wav.mkdir(parents=True)
  (wav / bad_name).write_bytes(bad_bytes)
  return ['--config.target=emodb', f'--config.data_root={root}']


def _truncated_wav(root):
  """A wav cut inside its header. (One cut inside the sample data decodes,
  as libsndfile does, to the samples that are there.)"""
  good = testing.write_wav(root / 'full.wav', testing.tone(1.0))
  return good.read_bytes()[:30]


def _faceless_savee_video(root):
  testing.write_video(root / 'savee' / 'AudioVisualClip' / 'KL' / 'su07.avi',
                      [np.full((120, 160, 3), v, np.uint8) for v in (0, 80)])
  return ['--config.target=savee', '--config.modality=video',
          f'--config.data_root={root}']


def _manifest(root, rows, modality='audio'):
  """A CSV manifest of `rows` (path, label, speaker) beside its files."""
  path = root / 'corpus.csv'
  path.write_text('path,label,speaker\n' +
                  ''.join(f'{p},{label},{spk}\n' for p, label, spk in rows))
  return [f'--config.target=manifest:{path}', f'--config.modality={modality}']


def _manifest_missing_file(root):
  testing.write_wav(root / 'a.wav', testing.tone(1.0))
  return _manifest(root, [('a.wav', 'anger', 's1'),
                          ('gone.wav', 'sadness', 's2')])


def _manifest_unknown_label(root):
  testing.write_wav(root / 'a.wav', testing.tone(1.0))
  return _manifest(root, [('a.wav', 'angry', 's1')])


def _faceless_image(root):
  import cv2  # pylint: disable=g-import-not-at-top
  cv2.imwrite(str(root / 'blank.png'), np.full((120, 160, 3), 90, np.uint8))
  return _manifest(root, [('blank.png', 'neutral', 's1')], modality='image')


BAD_INPUTS = {
    'lr nan': (lambda root: ['--config.optim.learning_rate=nan'],
               'optim.learning_rate must be finite and > 0, got nan'),
    'max_active 0': (lambda root: ['--config.model.max_active=0'],
                     'model.max_active must be in [1, model.num_modules=20]'),
    'unknown field': (lambda root: ['--config.optim.learnin_rate=0.1'],
                      "unknown config field 'optim.learnin_rate'; did you "
                      "mean 'optim.learning_rate'?"),
    'empty wav': (lambda root: _emodb_tree(root, '03a02Wb.wav', b''),
                  '03a02Wb.wav'),
    'text as wav': (lambda root: _emodb_tree(root, '03a02Wb.wav',
                                             b'not audio\n' * 20),
                    '03a02Wb.wav'),
    'truncated wav': (lambda root: _emodb_tree(root, '03a02Wb.wav',
                                               _truncated_wav(root)),
                      '03a02Wb.wav'),
    'video without faces': (_faceless_savee_video, 'su07.avi'),
    'manifest with a missing file': (_manifest_missing_file, 'gone.wav'),
    'manifest with an unknown label': (_manifest_unknown_label, 'angry'),
    'image without a face': (_faceless_image, 'blank.png'),
    'config file that does not exist': (
        lambda root: [f'--config={root / "nope.py"}'],
        "cannot load the config file: [Errno 2] No such file or directory"),
}


@pytest.mark.parametrize('case', list(BAD_INPUTS))
def test_bad_input_is_one_error_line_and_leaves_nothing_half_written(
    tmp_path, case):
  make_args, culprit = BAD_INPUTS[case]
  root = tmp_path / 'data'
  root.mkdir()
  workdir, cache = tmp_path / 'run', tmp_path / 'features'
  proc = _cli(*make_args(root), f'--workdir={workdir}',
              f'--config.cache_dir={cache}')
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert 'Traceback' not in proc.stdout + proc.stderr
  errors = _error_lines(proc)
  assert len(errors) == 1 and culprit in errors[0], proc.stderr[-2000:]
  assert not workdir.exists()  # refused before the workdir was touched
  written = [n for _, _, files in os.walk(tmp_path) for n in files]
  assert not [n for n in written if '.tmp' in n]


# A full disk: one line naming what was being written.

# What TensorStore raised on a full 200 KiB tmpfs (orbax 0.12, jax 0.10).
TENSORSTORE_FULL = (
    'RESOURCE_EXHAUSTED: Error writing "params.layers.0.w/0.0.0" in OCDBT '
    'database at local file "{dir}/2.orbax-checkpoint-tmp/": Failed writing: '
    '"{dir}/2.orbax-checkpoint-tmp/d/67078cdd": Failed to write 18018304 '
    "bytes to file 12: No space left on device [os_error_code='28']")


def test_full_disk_during_a_checkpoint_is_one_line_naming_its_directory(
    tmp_path, capsys, monkeypatch):
  def full_disk(mngr, *args, **kwargs):
    raise ValueError(TENSORSTORE_FULL.format(dir=mngr.directory))
  monkeypatch.setattr(ckpt_lib.ocp.CheckpointManager, 'save', full_disk)
  workdir = tmp_path / 'run'
  assert pathnet_protocol.run(tiny_config(), str(workdir)) == 1
  err = capsys.readouterr().err.strip().splitlines()
  batch, = os.listdir(workdir / 'checkpoints')  # the batch of fold 0
  assert err == [
      f"error: no space left on device writing "
      f"{workdir / 'checkpoints' / batch}; free some space or use "
      "another --workdir/--out"]


def test_full_disk_during_a_results_file_is_one_line_naming_it(
    tmp_path, capsys, monkeypatch):
  real_dump = json.dump

  def full_disk(obj, f, **kwargs):
    if os.path.basename(f.name).startswith('results'):
      raise OSError(28, 'No space left on device')
    return real_dump(obj, f, **kwargs)
  monkeypatch.setattr(json, 'dump', full_disk)
  workdir = tmp_path / 'run'
  config = tinyconfig.synthetic_run_config(generations=2)
  assert pathnet_protocol.run(config, str(workdir)) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith(
      f"error: no space left on device writing {workdir / 'results.json'}")
  assert not [n for n in os.listdir(workdir) if '.tmp' in n]


@contextlib.contextmanager
def _tiny_tmpfs(path, size='200k'):
  """A real filesystem that fills up, where this process may mount one."""
  path.mkdir()
  if os.geteuid() != 0 or shutil.which('mount') is None:
    pytest.skip('mounting a tmpfs needs root')
  done = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}',
                         'tmpfs', str(path)], capture_output=True, check=False)
  if done.returncode != 0:
    pytest.skip(f'cannot mount a tmpfs here: {done.stderr.decode()[:200]}')
  try:
    yield path
  finally:
    subprocess.run(['umount', '-l', str(path)], check=False)


# A whole demo run onto a real 200 KiB filesystem; the two specs above check
# the same line in the default run from the error TensorStore raised.
@pytest.mark.slow
def test_a_real_full_disk_is_one_error_line_without_traceback(tmp_path):
  with _tiny_tmpfs(tmp_path / 'small') as small:
    proc = _cli('--config.evolution.generations=4',
                '--config.evolution.checkpoint_every=2',
                f'--config.cache_dir={tmp_path / "features"}',
                f'--workdir={small / "run"}')
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert 'Traceback' not in proc.stdout + proc.stderr, proc.stderr[-3000:]
  errors = _error_lines(proc)
  assert len(errors) == 1 and 'no space left on device writing' in errors[0]
  assert str(small / 'run') in errors[0]


# Locks on every output, and workdirs that survive upgrades.

def test_predict_waits_for_a_model_being_written_then_says_busy(tmp_path):
  from experiments.lib import inference  # pylint: disable=g-import-not-at-top
  from test_experiments_predict import _save  # pylint: disable=g-import-not-at-top
  model = _save(tmp_path / 'run' / 'model', 'audio')
  lock = os.path.join(model, workdir_lib.MODEL_LOCK_NAME)
  with workdir_lib.locked(lock, shared=False, wait_s=0) as held:
    assert held  # what save_model holds while it replaces the files
    with pytest.raises(inference.PredictError, match='being written by a '
                       'running experiment'):
      inference.load_model(str(tmp_path / 'run'), wait_s=0.3)
  assert inference.load_model(str(tmp_path / 'run')).class_names == (
      'neutral', 'anger', 'sadness')


def test_reproduce_refuses_an_output_folder_in_use(tmp_path):
  from experiments.lib import reproduce  # pylint: disable=g-import-not-at-top
  out = tmp_path / 'out'
  with workdir_lib.exclusive(str(out), lock_name=reproduce.LOCK_NAME):
    with pytest.raises(workdir_lib.InUse, match='reproduce output folder'):
      reproduce.reproduce(str(out), data_root=str(tmp_path), synthetic=True,
                          rows=['a_emo'])
  assert os.listdir(out) == [reproduce.LOCK_NAME]  # no README, no run


def test_ablation_refuses_an_output_file_in_use(tmp_path):
  from experiments.lib import ablation  # pylint: disable=g-import-not-at-top
  out = tmp_path / 'ablation.json'
  with workdir_lib.exclusive(str(tmp_path), lock_name='ablation.json.lock'):
    with pytest.raises(workdir_lib.InUse, match='ablation output'):
      ablation.run_to_file(str(out), tiny_config(), ['paper'], [0], 0.2,
                           'utterance')
  assert not out.exists()


@pytest.fixture(scope='module')
def finished_tiny_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('upgrade') / 'run')
  config = tinyconfig.synthetic_run_config(generations=2)
  return config, workdir, pathnet_protocol.train_and_evaluate(config, workdir)


def _drop_fields(workdir, *dotted):
  """Rewrite config.json as an older version wrote it: without `dotted`."""
  path = os.path.join(workdir, 'config.json')
  with open(path) as f:
    recorded = json.load(f)
  for field in dotted:
    *parents, leaf = field.split('.')
    section = recorded
    for p in parents:
      section = section[p]
    del section[leaf]
  with open(path, 'w') as f:
    json.dump(recorded, f)


def test_workdir_of_an_older_version_resumes_when_new_fields_are_default(
    finished_tiny_run):
  config, workdir, results = finished_tiny_run
  _drop_fields(workdir, 'ensemble_size', 'model.compute')
  again = pathnet_protocol.train_and_evaluate(config, workdir)
  assert _fold_essentials(again) == _fold_essentials(results)


def test_workdir_of_an_older_version_is_refused_when_a_new_field_is_set(
    finished_tiny_run):
  config, workdir, _ = finished_tiny_run
  _drop_fields(workdir, 'ensemble_size')
  changed = tinyconfig.synthetic_run_config(generations=2, ensemble_size=3)
  with pytest.raises(ValueError, match=r'differs in: ensemble_size\)'):
    pathnet_protocol.train_and_evaluate(changed, workdir)
