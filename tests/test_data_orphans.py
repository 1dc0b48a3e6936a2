"""`kill -9` of a running extraction leaves no process behind: its pool
workers (and with them multiprocessing's resource tracker) end when their
parent dies."""
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest

from data_prep import testing

psutil = pytest.importorskip('psutil')
REPO = Path(__file__).resolve().parents[1]


def test_killed_extraction_leaves_no_orphan_processes(tmp_path):
  rows = []
  for i in range(120):  # long enough to be killed mid-way on any machine
    path = testing.write_wav(tmp_path / 'wav' / f'{i:03d}.wav',
                             testing.tone(4.0, freq=150 + i, seed=i))
    rows.append(f'{path},{("anger", "sadness")[i % 2]},s{i % 4}')
  csv = tmp_path / 'many.csv'
  csv.write_text('path,label,speaker\n' + '\n'.join(rows) + '\n')
  out = tmp_path / 'many.npz'
  proc = subprocess.Popen(
      [sys.executable, '-m', 'data_prep', 'extract', '--corpus',
       f'manifest:{csv}', '--out', str(out), '--workers', '2',
       '--no_progress'], cwd=REPO, stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL)
  try:
    parent = psutil.Process(proc.pid)
    children = []
    deadline = time.monotonic() + 300
    # Two workers and the resource tracker, all started: then kill.
    while len(children) < 3 and time.monotonic() < deadline:
      assert proc.poll() is None, 'extraction ended before it could be killed'
      children = parent.children(recursive=True)
      time.sleep(0.2)
    assert len(children) >= 3, children
    time.sleep(1.0)  # the workers are busy with files now
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _, alive = psutil.wait_procs(children, timeout=60)
    assert not alive, [(p.pid, p.cmdline()) for p in alive]
    assert not out.exists()  # it was killed mid-way
  finally:
    if proc.poll() is None:
      proc.kill()
