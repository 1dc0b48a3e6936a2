"""The video path on real faces in a real corpus's format: the 6 CREMA-D
clips of ../shared/data/crema_d_sample (Flash video, VP6, 480x360, one male
actor, one clip per emotion). Skipped when the folder is absent."""
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from data_prep import corpora
from data_prep import labels
from data_prep import store
from data_prep import video
import tinyconfig

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / 'shared' / 'data' / 'crema_d_sample'
pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(),
                                reason='../shared/data/crema_d_sample absent')
EMOTIONS = ('anger', 'disgust', 'fear', 'happiness', 'neutral', 'sadness')


def write_manifest(folder: Path, names=None) -> Path:
  """A manifest of the sample's clips (all, or the given file names)."""
  clips = sorted((SAMPLE / 'VideoFlash').glob('*.flv'))
  parse = corpora.get('crema_d').parse
  rows = [f'{p},{labels.CREMA_D[parse(p.name)["emotion"]]},1001,m'
          for p in clips if names is None or p.name in names]
  path = folder / 'crema.csv'
  path.write_text('path,label,speaker,sex\n' + '\n'.join(rows) + '\n')
  return path


def test_crema_d_reader_reads_the_sample_in_its_own_layout():
  mod = corpora.get('crema_d')
  v = mod.records(SAMPLE, 'video')
  assert [r.label for r in v] == list(EMOTIONS)
  assert {(r.speaker, r.sex) for r in v} == {('1001', '')}  # no demographics
  # No AudioWAV/ in the sample: the clips' sound tracks are the audio.
  a = mod.records(SAMPLE, 'audio')
  assert [r.path for r in a] == [r.path for r in v]


def test_every_clip_gives_a_face_in_each_sampled_frame():
  for path in sorted((SAMPLE / 'VideoFlash').glob('*.flv')):
    frames = list(video.read_frames(str(path)))[::8]
    assert frames and frames[0].shape == (360, 480, 3)
    assert all(video.detect_face(f) is not None for f in frames), path.name


def test_manifest_of_the_clips_is_read_by_every_caller_bit_for_bit(tmp_path):
  # Every 4th frame of two clips keeps this in the default run: a subprocess
  # CLI, the spawned worker pool and an in-process call (as predict makes).
  csv = write_manifest(tmp_path, ('1001_DFA_ANG_XX.flv', '1001_DFA_SAD_XX.flv'))
  out = tmp_path / 'cli.npz'
  done = subprocess.run(
      [sys.executable, '-m', 'data_prep', 'extract', '--corpus',
       f'manifest:{csv}', '--modality', 'video', '--frame_step', '4',
       '--out', str(out), '--workers', '1', '--no_progress'],
      cwd=REPO, capture_output=True, text=True,
      timeout=tinyconfig.HANG_GUARD_S, check=False)
  assert done.returncode == 0, done.stderr
  assert 'crema.csv' in done.stdout and '2 files' in done.stdout
  cli_fs = store.load(out)
  assert cli_fs.class_names == ('anger', 'sadness')
  params = store.feature_params('video', {'frame_step': 4})
  pool = store.extract(f'manifest:{csv}', None, 'video', workers=2,
                       params={'frame_step': 4}, progress=False)
  np.testing.assert_array_equal(pool.x, cli_fs.x)
  in_process = np.concatenate([
      store.file_features(r.path, 'video', params)
      for r in corpora.read(f'manifest:{csv}', None, 'video')])
  np.testing.assert_array_equal(in_process, cli_fs.x)


@pytest.mark.slow
def test_all_clips_give_379_face_crops():
  fs = store.extract('crema_d', SAMPLE, 'video', workers=2, progress=False)
  assert len(fs) == 379 and fs.class_names == (
      'neutral', 'anger', 'disgust', 'fear', 'happiness', 'sadness')
  assert len(fs.utterance_ids) == 6 and not fs.params['skipped']


@pytest.mark.slow
def test_manifest_of_the_clips_trains_and_predict_reads_a_flv(tmp_path):
  from experiments.lib import inference  # pylint: disable=g-import-not-at-top
  from experiments.lib import pathnet_protocol  # pylint: disable=g-import-not-at-top
  c = tinyconfig.tiny_config(generations=2, checkpoint_every=0)
  c.target = f'manifest:{write_manifest(tmp_path)}'
  c.modality = 'video'
  c.cache_dir = str(tmp_path / 'cache')
  c.n_splits, c.folds = 2, (0,)
  workdir = str(tmp_path / 'run')
  results = pathnet_protocol.train_and_evaluate(c, workdir)
  assert results['n_rows'] == 379 and results['n_utterances'] == 6
  clip = str(SAMPLE / 'VideoFlash' / '1001_DFA_HAP_XX.flv')
  out = inference.predict_file(inference.load_model(workdir), clip)
  assert out['modality'] == 'video' and out['n_rows'] > 50
  assert abs(sum(out['probabilities'].values()) - 1) < 1e-6
  done = subprocess.run(
      [sys.executable, '-m', 'experiments.predict', f'--workdir={workdir}',
       f'--input={clip}', '--json'], cwd=REPO, capture_output=True, text=True,
      timeout=tinyconfig.HANG_GUARD_S, check=False)
  assert done.returncode == 0, done.stderr
  assert '"prediction"' in done.stdout
