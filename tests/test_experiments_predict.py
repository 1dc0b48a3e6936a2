"""experiments.predict on hand-made models (random weights, no evolution).

The end-to-end predict on a trained model is in test_experiments_train.py.
"""
import json
import os
import subprocess
import sys

import cv2
import jax
import numpy as np
import pytest

from data_prep import audio
from data_prep import synthetic
from data_prep import testing
from experiments.lib import normalize
import inprocess
from experiments.lib import inference
from experiments.lib import outputs
from pathnet_jax import model as model_lib
import tinyconfig

EMODB_WAV = os.path.join(os.path.dirname(__file__), '..', '..', 'shared',
                         'data', 'emodb', 'wav', '03a01Fa.wav')
CLASSES = ('neutral', 'anger', 'sadness')


def _save(path, modality):
  """A random-weight model for 64x64x3 inputs, saved as a training run saves it."""
  config = tinyconfig.tiny_config()
  config.modality = modality
  params = model_lib.init(jax.random.key(0), config, (64, 64, 3), len(CLASSES))
  genotype = np.array([[0, 1], [2, 2]], np.int32)
  stats = normalize.NormStats('none', np.zeros((), np.float32),
                              np.ones((), np.float32))
  outputs.save_model(str(path), config, params, genotype, None, stats, CLASSES)
  return str(path)


@pytest.fixture(scope='module')
def audio_model(tmp_path_factory):
  return _save(tmp_path_factory.mktemp('run') / 'model', 'audio')


@pytest.fixture(scope='module')
def speech(tmp_path_factory):
  """A 1.2 s synthetic utterance as a 16 kHz wav."""
  rng = np.random.default_rng(0)
  speaker = synthetic.make_speakers(rng, 1)[0]
  y = synthetic.render(rng, speaker, 'anger', 1.2)
  return str(testing.write_wav(tmp_path_factory.mktemp('in') / 'a.wav', y))


def _predict(workdir, path, *flags):
  """The binary's exit code on a model and a file, run in this process
  (its output passed on to capsys)."""
  done = inprocess.run_binary('predict', [f'--workdir={workdir}',
                                          f'--input={path}', *flags])
  sys.stdout.write(done.stdout)
  sys.stderr.write(done.stderr)
  return done.returncode


def _error_line(capsys):
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1, err
  return err[0]


def test_probabilities_are_softmax_of_mean_segment_log_probs(audio_model,
                                                             speech):
  model = inference.load_model(os.path.dirname(audio_model))
  result = inference.predict_file(model, speech)
  x = audio.logmel_segments(audio.load_audio(speech, 16000), 16000)
  lp = inference.test_log_probs(model.config, model.params, model.genotype, None,
                            x)
  expected = np.exp(lp.mean(0)) / np.exp(lp.mean(0)).sum()
  got = np.array([result['probabilities'][c] for c in CLASSES])
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  assert result['n_rows'] == len(x) == 2
  assert list(result['probabilities'].values()) == sorted(got, reverse=True)
  assert result['prediction'] == CLASSES[int(np.argmax(expected))]


def test_cli_prints_a_sorted_table_or_json(audio_model, speech, capsys):
  assert _predict(audio_model, speech) == 0
  table = capsys.readouterr().out.splitlines()
  assert table[2].split() == ['class', 'probability']
  probs = [float(line.split()[1]) for line in table[3:]]
  assert len(probs) == 3 and probs == sorted(probs, reverse=True)
  assert abs(sum(probs) - 1) < 1e-3
  assert _predict(audio_model, speech, '--json') == 0
  out = json.loads(capsys.readouterr().out)
  assert set(out['probabilities']) == set(CLASSES)
  assert out['prediction'] == table[3].split()[0]


@pytest.mark.parametrize('name, content, words', [
    ('notes.txt', b'hello', "unsupported file type '.txt'"),
    ('broken.wav', b'RIFF not really a wave file', 'unreadable audio'),
    ('empty.flac', b'', 'empty file'),
    ('face.jpg', None, 'image input, but the model was trained on audio'),
])
def test_bad_input_is_one_error_line(audio_model, tmp_path, capsys, name,
                                     content, words):
  path = tmp_path / name
  if content is None:
    cv2.imwrite(str(path), np.full((32, 32, 3), 128, np.uint8))
  else:
    path.write_bytes(content)
  assert _predict(audio_model, str(path)) == 1
  line = _error_line(capsys)
  assert line.startswith('error: ') and words in line, line
  assert name in line


def test_missing_model_is_one_error_line(tmp_path, speech, capsys):
  assert _predict(str(tmp_path), speech) == 1
  assert 'no trained model' in _error_line(capsys)


def test_video_model_reads_a_face_photo_and_rejects_audio(tmp_path, speech,
                                                          capsys):
  skimage_data = pytest.importorskip('skimage.data')
  workdir = os.path.dirname(_save(tmp_path / 'model', 'video'))
  photo = str(tmp_path / 'astronaut.png')
  cv2.imwrite(photo, cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR))
  result = inference.predict_file(inference.load_model(workdir), photo)
  assert result['n_rows'] == 1 and result['modality'] == 'image'
  assert abs(sum(result['probabilities'].values()) - 1) < 1e-6
  assert _predict(workdir, speech) == 1
  assert 'audio input, but the model was trained on video' in _error_line(
      capsys)
  blank = str(tmp_path / 'wall.jpg')
  cv2.imwrite(blank, np.full((240, 320, 3), 90, np.uint8))
  assert _predict(workdir, blank) == 1
  assert 'no face detected' in _error_line(capsys)


@pytest.mark.skipif(not os.path.isfile(EMODB_WAV),
                    reason='../shared/data/emodb not present')
def test_real_emodb_file(audio_model):
  model = inference.load_model(audio_model)  # the model folder itself works too
  result = inference.predict_file(model, EMODB_WAV)
  # 2.000 s at a 10 ms hop: 201 frames -> windows at 0, 34, 68, 102, 136.
  assert result['n_rows'] == 5
  assert abs(sum(result['probabilities'].values()) - 1) < 1e-6


def test_help_lists_every_input_extension_predict_takes():
  proc = subprocess.run([sys.executable, '-m', 'experiments.predict',
                         '--helpshort'], capture_output=True, text=True,
                        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        check=False, timeout=tinyconfig.HANG_GUARD_S)
  listed = ' '.join(proc.stdout.split())  # absl wraps help lines
  for ext in inference.AUDIO_EXTS + inference.VIDEO_EXTS + inference.IMAGE_EXTS:
    assert ext in listed.split('--input:')[1].split('--')[0], ext


def test_an_audio_model_on_a_video_counts_its_sound_tracks_segments(
    audio_model, tmp_path, capsys):
  rng = np.random.default_rng(0)
  speaker = synthetic.make_speakers(rng, 1)[0]
  y = synthetic.render(rng, speaker, 'anger', 1.2)
  frames = [np.full((32, 32, 3), 128, np.uint8)] * 12
  clip = testing.write_av(tmp_path / 'clip.avi', frames, y)
  assert _predict(audio_model, clip) == 0
  first = capsys.readouterr().out.splitlines()[0]
  assert first.endswith('(2 segments)'), first
