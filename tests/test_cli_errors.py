"""Every binary's bad input ends in exactly one `error:` line and exit code 1,
never a traceback (issue 19 item 4; experiments/lib/cli.py). Each case is a
realistic mistake that fails before any real work, run as a subprocess
exactly as a user would (one case per binary at least), or in this process
through the same error path (inprocess.py) where a binary has its subprocess
case already."""
import os
import subprocess
import sys

import pytest

from experiments import ablation
from experiments import predict
import inprocess
import tinyconfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINETUNE = 'experiments/configs/finetune.py:tiny'


def _empty_emodb(tmp):
  (tmp / 'emodb' / 'wav').mkdir(parents=True)
  return str(tmp)


def _unreadable_emodb_wav(tmp):
  (tmp / 'emodb' / 'wav').mkdir(parents=True)
  (tmp / 'emodb' / 'wav' / '03a02Wb.wav').write_bytes(b'not audio\n' * 20)
  return str(tmp)


# binary -> (arguments given the test's folder, text the error line holds)
CASES = {
    'train, a corpus with no files': (
        'train', lambda t: ['--config.target=emodb',
                            f'--config.data_root={_empty_emodb(t)}',
                            f'--workdir={t / "run"}'],
        'no emodb audio recordings'),
    'finetune, a missing config file': (
        'finetune', lambda t: ['--config=experiments/configs/nope.py',
                               f'--workdir={t / "run"}'],
        'cannot load the config file: [Errno 2] No such file or directory'),
    'finetune, an unknown config field': (
        'finetune', lambda t: [f'--config={FINETUNE}', '--config.epoch=3',
                               f'--workdir={t / "run"}'],
        "unknown config field 'epoch'"),
    'finetune, a bad on_error': (
        'finetune', lambda t: [f'--config={FINETUNE}',
                               '--config.on_error=ignore',
                               f'--workdir={t / "run"}'],
        "config.on_error must be one of raise, skip, got 'ignore'"),
    'finetune, no --workdir': (
        'finetune', lambda t: [f'--config={FINETUNE}'],
        'flag --workdir=None: Flag --workdir must have a value other than '
        'None.'),
    'baseline, openSMILE on the synthetic corpus': (
        'baseline', lambda t: ['--features=opensmile:eGeMAPSv02'],
        'the synthetic corpus has no files to extract'),
    'baseline, a bad flag value': (
        'baseline', lambda t: ['--on_error=ignore'],
        'flag --on_error=ignore: value should be one of <raise|skip>'),
    'baseline, an unreadable recording': (
        'baseline', lambda t: ['--corpus=emodb',
                               f'--data_root={_unreadable_emodb_wav(t)}',
                               f'--cache_dir={t / "features"}'],
        '03a02Wb.wav'),
    'ablation, an unknown field of the default config': (
        'ablation', lambda t: ['--config.optim.learnin_rate=0.1',
                               f'--out={t / "ablation.json"}'],
        "unknown config field 'optim.learnin_rate'; did you mean "
        "'optim.learning_rate'?"),
    'reproduce, an unknown row': (
        'reproduce', lambda t: ['--rows=a_emo,nope', f'--out={t / "out"}'],
        "unknown rows ['nope']"),
    'stats, a missing results file': (
        'stats', lambda t: [f'--a={t / "gone.json"}', f'--b={t / "gone.json"}'],
        'gone.json'),
    'curves, a missing results file': (
        'curves', lambda t: [f'--line=a|{t / "gone.json"}',
                             f'--out={t / "curves.png"}'],
        'gone.json'),
    'table, a malformed --row': (
        'table', lambda t: ['--row=results.json'],
        "--row 'results.json' is not 'label|path[,path...]'"),
}


# One case per binary runs as a real subprocess, as a user would start it
# (finetune, curves, stats, predict and benchmark have theirs in their own
# test files); the others take the same error path in this process.
SUBPROCESS = {'train, a corpus with no files',
              'baseline, an unreadable recording',
              'ablation, an unknown field of the default config',
              'reproduce, an unknown row', 'table, a malformed --row'}


def _run(binary, args, subprocess_run):
  if not subprocess_run:
    return inprocess.run_binary(binary, args)
  return subprocess.run(
      [sys.executable, '-m', f'experiments.{binary}', *args],
      capture_output=True, text=True, cwd=REPO, check=False,
      timeout=tinyconfig.HANG_GUARD_S)


@pytest.mark.parametrize('case', list(CASES))
def test_bad_input_ends_in_one_error_line(tmp_path, case):
  binary, make_args, culprit = CASES[case]
  proc = _run(binary, make_args(tmp_path), case in SUBPROCESS)
  output = proc.stdout + proc.stderr
  errors = [l for l in output.splitlines() if l.startswith('error:')]
  assert proc.returncode == 1, output[-2000:]
  assert 'Traceback' not in output, output[-2000:]
  assert len(errors) == 1 and culprit in errors[0], output[-2000:]


# binary -> (arguments given the test's folder, text the error line holds)
IN_PROCESS = {
    'predict, no trained model': (
        predict, lambda t: [f'--workdir={t}', f'--input={t / "a.wav"}'],
        'no trained model in'),
    'predict, no --input': (
        predict, lambda t: [f'--workdir={t}'],
        'flag --input=None: Flag --input must have a value other than None.'),
    'ablation, an unknown corpus': (
        ablation, lambda t: ['--config.target=nocorpus',
                             f'--out={t / "ablation.json"}'],
        "unknown corpus 'nocorpus'"),
    'ablation, an unknown variant': (
        ablation, lambda t: ['--variants=paper,nope',
                             f'--out={t / "ablation.json"}'],
        "unknown variant 'nope'"),
    'ablation, a selection share of 1': (
        ablation, lambda t: ['--select_fraction=1',
                             f'--out={t / "ablation.json"}'],
        '--select_fraction must be in (0, 1), got 1.0'),
}


@pytest.mark.parametrize('case', list(IN_PROCESS))
def test_bad_input_in_process_ends_in_one_error_line(tmp_path, case):
  binary, make_args, culprit = IN_PROCESS[case]
  proc = inprocess.run_binary(binary.__name__.split('.')[-1],
                              make_args(tmp_path))
  output = proc.stdout + proc.stderr
  errors = [l for l in output.splitlines() if l.startswith('error:')]
  assert proc.returncode == 1, output[-2000:]
  assert 'Traceback' not in output, output[-2000:]
  assert len(errors) == 1 and culprit in errors[0], output[-2000:]
  assert not (tmp_path / 'ablation.json').exists()


def test_an_unreadable_file_names_the_flag_that_skips_it(tmp_path):
  """baseline has flags, not a config: its error names --on_error."""
  proc = inprocess.run_binary('baseline', [
      '--corpus=emodb', f'--data_root={_unreadable_emodb_wav(tmp_path)}',
      f'--cache_dir={tmp_path / "features"}'])
  assert proc.stderr.strip().endswith(
      '(set --on_error=skip to skip such files, up to '
      '--max_skipped_fraction_files of them)'), proc.stderr[-2000:]
