"""TensorBoard event files in every workdir, written without TensorFlow.

  with tensorboard.writer(workdir, jax.process_index()) as tb:
    tensorboard.write_scalars(tb, step, {'fold_0/test/ua': 0.61})
    tensorboard.write_history(tb, {'loss': [...], 'accuracy': [...]},
                              prefix='fold_0/train/')

Events go to `<workdir>/tensorboard/`, one folder a run, so
`tensorboard --logdir runs/` lists every run under runs/ (as
`<run>/tensorboard`) and a workdir's own files stay apart from its events.

The writer is tensorboardX's (the `tensorboardX` package: event protos and
the TFRecord framing, a few hundred kB, no TensorFlow or PyTorch). Only its
synchronous `EventsWriter` is used, not its `SummaryWriter`: that one writes
from a background thread fed by a bounded queue, so a write error (a full
disk) kills the thread and the run then blocks forever on the full queue.
Here every write happens in the caller's thread, and an OSError (full disk,
quota, read-only folder) logs one warning and turns the writer off: the
events are a view of the run, never a reason to lose it. clu's
metric_writers were not chosen: their SummaryWriter writes through
TensorFlow's tf.summary, their other TensorBoard writer through PyTorch.

Only process 0 of a multi-host run writes (the caller passes
`jax.process_index()`, so this module stays light and JAX-free). Reading
back (`read_scalars`) also uses tensorboardX's protos: no `tensorboard`
package is needed, not even in tests; TensorBoard itself only views.
"""
from __future__ import annotations

import contextlib
import glob
import itertools
import logging
import os
import struct
import time
from typing import Iterator, Mapping, Sequence

from tensorboardX import event_file_writer
from tensorboardX import record_writer
from tensorboardX.proto import event_pb2
from tensorboardX.proto import summary_pb2

LOG_DIR = 'tensorboard'  # inside a workdir
_EVENTS_GLOB = 'events.out.tfevents.*'
_file_numbers = itertools.count()


def log_dir(workdir: str) -> str:
  """Where a workdir's event files go."""
  return os.path.join(workdir, LOG_DIR)


class Writer:
  """Scalars into one event file, created at the first write (a run that
  fails before logging anything leaves no events behind).

  Writes nothing on a non-zero process (directory None), nor after the
  first OSError, which is logged once as a warning.
  """

  def __init__(self, directory: str | None, replace: bool = False):
    self.directory = directory
    self._replace = replace
    self._events = None
    self._off = directory is None

  @property
  def enabled(self) -> bool:
    return not self._off

  def add(self, step: int, values: Mapping[str, float]) -> None:
    """One event holding `values` at `step`."""
    if self._off or not values or not self._open():
      return
    summary = summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag=tag, simple_value=value)
        for tag, value in values.items()])
    self._guarded(self._events.write_event,
                  event_pb2.Event(wall_time=time.time(), step=int(step),
                                  summary=summary))

  def add_image(self, step: int, tag: str, png: bytes) -> None:
    """One PNG (its bytes) as an image event at `step`."""
    if self._off or not self._open():
      return
    width, height = struct.unpack('>II', png[16:24])  # the IHDR chunk
    image = summary_pb2.Summary.Image(height=height, width=width,
                                      colorspace=4,
                                      encoded_image_string=png)
    summary = summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag, image=image)])
    self._guarded(self._events.write_event,
                  event_pb2.Event(wall_time=time.time(), step=int(step),
                                  summary=summary))
    self._guarded(self._events.flush)

  def flush(self) -> None:
    if self._events is not None:
      self._guarded(self._events.flush)

  def close(self) -> None:
    """Flushes and closes the file; later writes are dropped."""
    events, self._events, self._off = self._events, None, True
    if events is not None:
      try:
        events.close()  # flushes first
      except OSError as e:
        self._disable(e)

  def __enter__(self) -> Writer:
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def _open(self) -> bool:
    if self._events is not None:
      return True
    try:
      os.makedirs(self.directory, exist_ok=True)
      if self._replace:
        for path in glob.glob(os.path.join(self.directory, _EVENTS_GLOB)):
          os.remove(path)
      # tensorboardX names a file by the second and the host: the pid and
      # a counter keep two writers opened within a second from truncating
      # each other's file.
      self._events = event_file_writer.EventsWriter(
          os.path.join(self.directory, 'events'),
          f'.{os.getpid()}.{next(_file_numbers)}')
    except OSError as e:
      self._disable(e)
      return False
    return True

  def _guarded(self, fn, *args) -> None:
    try:
      fn(*args)
    except OSError as e:
      events, self._events = self._events, None
      self._disable(e)
      with contextlib.suppress(OSError):  # its buffered bytes fail again
        events.close()

  def _disable(self, error: OSError) -> None:
    self._off = True
    logging.warning('TensorBoard events in %s stop here: %s (the run goes '
                    'on without them)', self.directory, error)


def writer(workdir: str, process_index: int = 0,
           replace: bool = False) -> Writer:
  """The event writer of a workdir (close it, or use it as a context).

  Args:
    workdir: the run's folder; events go to `log_dir(workdir)`.
    process_index: `jax.process_index()`; any other than 0 gets a writer
      that writes (and creates) nothing.
    replace: at the first write, delete the folder's earlier event files:
      for a binary that redoes a run from the start (a resumed run keeps
      them, its new file continuing the same curves).
  """
  return Writer(log_dir(workdir) if process_index == 0 else None, replace)


def _number(value) -> float | None:
  """float(value), or None for a value TensorBoard cannot plot (None)."""
  return None if value is None else float(value)


def write_scalars(tb: Writer, step: int, scalars: Mapping[str, float],
                  flush: bool = True) -> None:
  """{tag: value} at `step` (None values are left out); flushed to disk
  unless `flush` is False, so a killed run keeps what it logged."""
  values = {tag: _number(v) for tag, v in scalars.items()}
  tb.add(step, {tag: v for tag, v in values.items() if v is not None})
  if flush:
    tb.flush()


def write_png(tb: Writer, step: int, tag: str, path: str) -> None:
  """The PNG file at `path` as the image `tag` at `step`."""
  with open(path, 'rb') as f:
    tb.add_image(step, tag, f.read())


def read_images(directory: str) -> dict[str, list[tuple[int, bytes]]]:
  """{tag: [(step, PNG bytes), ...]} of the image events in `directory` (a
  workdir's `log_dir`), as read_scalars reads scalars."""
  return _read_values(directory, 'image',
                      lambda v: v.image.encoded_image_string)


def write_history(tb: Writer, history: Mapping[str, Sequence[float]],
                  prefix: str = '') -> None:
  """Every series of `history` ({name: per-step values}) as `prefix + name`,
  value i at step i + 1 (epoch or generation 1 is step 1); entries that are
  not sequences (e.g. 'best_epoch') are left out."""
  series = {prefix + name: list(values) for name, values in history.items()
            if isinstance(values, Sequence) and not isinstance(values, str)}
  for i in range(max((len(v) for v in series.values()), default=0)):
    write_scalars(tb, i + 1, {tag: v[i] for tag, v in series.items()
                              if i < len(v)}, flush=False)
  tb.flush()


def fold_test_scalars(fold: int, scores: Mapping[str, Mapping[str, float]]
                      ) -> dict[str, float]:
  """A fold's test scores ({'utterance': {'wa', 'ua', ...}, 'segment': ...},
  as pathnet_jax.metrics gives them) as the scalars every binary logs:
  'fold_<i>/test/wa' and '.../test/ua' (utterance level, the headline
  figures), '.../test/segment_wa' and '.../test/segment_ua'."""
  return {f'fold_{fold}/test/wa': scores['utterance']['wa'],
          f'fold_{fold}/test/ua': scores['utterance']['ua'],
          f'fold_{fold}/test/segment_wa': scores['segment']['wa'],
          f'fold_{fold}/test/segment_ua': scores['segment']['ua']}


def _records(path: str) -> Iterator[bytes]:
  """The payloads of a TFRecord file, CRCs checked; a record cut short at
  the end (a run still writing, or killed) ends the file."""
  with open(path, 'rb') as f:
    while True:
      header = f.read(12)
      if len(header) < 12:
        return
      (length,), (length_crc,) = (struct.unpack('<Q', header[:8]),
                                  struct.unpack('<I', header[8:]))
      if record_writer.masked_crc32c(header[:8]) != length_crc:
        raise ValueError(f'{path}: corrupt record length')
      data, footer = f.read(length), f.read(4)
      if len(data) < length or len(footer) < 4:
        return
      if record_writer.masked_crc32c(data) != struct.unpack('<I', footer)[0]:
        raise ValueError(f'{path}: corrupt record')
      yield data


def read_scalars(directory: str) -> dict[str, list[tuple[int, float]]]:
  """{tag: [(step, value), ...]} of every event file in `directory` (a
  workdir's `log_dir`), files in name order, events in file order."""
  return _read_values(directory, 'simple_value',
                      lambda v: float(v.simple_value))


def _read_values(directory: str, kind: str, read) -> dict[str, list]:
  """{tag: [(step, read(value)), ...]} of the summary values of one kind
  ('simple_value', 'image') in the directory's event files, in order."""
  out: dict[str, list] = {}
  for path in sorted(glob.glob(os.path.join(directory, _EVENTS_GLOB))):
    for data in _records(path):
      event = event_pb2.Event.FromString(data)
      for value in event.summary.value:
        if value.WhichOneof('value') == kind:
          out.setdefault(value.tag, []).append((int(event.step), read(value)))
  return out

