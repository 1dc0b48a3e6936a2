"""Bytes on disk under featureset: atomic writes of a file or a FORMAT2
directory, rows appended to its x.bin, and x mapped read-only on reading.

Knows arrays and files, not FeatureSet's fields. A store directory is
complete when it has its name: it is built in a hidden temporary folder
beside it ('.<name>.*.tmp'), every file fsynced, then renamed into place.
"""
from __future__ import annotations

import contextlib
import errno
import mmap
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

FORMAT2 = 'pathnet_jax.FeatureSet/2'
X_FILE, COLUMNS = 'x.bin', 'columns.npz'
_COPY_BYTES = 16 << 20


def write_atomically(path: str | os.PathLike,
                     write: Callable[[BinaryIO], None]) -> None:
  """Runs write(f) on a temporary file beside `path`, fsyncs it and renames
  it over `path`; removes it when anything fails."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.',
                             suffix='.tmp')
  try:
    with os.fdopen(fd, 'wb') as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from others
    os.replace(tmp, path)
  except BaseException as e:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    raise _named(e, path)


class RowWriter:
  """x.bin of a store being built: row blocks appended in order (C order).

  The first block fixes dtype and row shape (`empty`'s when none comes).
  """

  def __init__(self, f: BinaryIO, tmp: Path, path: Path, empty: np.ndarray):
    self._f, self._tmp, self._path = f, tmp, path
    self.dtype, self.row_shape, self.n = empty.dtype, None, 0
    self._empty_row_shape = empty.shape[1:]
    self.committed = False

  def append(self, rows: np.ndarray) -> None:
    rows = np.ascontiguousarray(rows)
    self._check(rows.dtype, rows.shape[1:])
    self._f.write(memoryview(rows).cast('B'))
    self.n += len(rows)

  def append_raw(self, f: BinaryIO, n: int, dtype: np.dtype,
                 row_shape: tuple[int, ...]) -> None:
    """Copies n rows of raw C-order bytes from f, a block at a time."""
    self._check(np.dtype(dtype), tuple(row_shape))
    want = n * int(np.prod(row_shape, dtype=np.int64)) * self.dtype.itemsize
    before = self._f.tell()
    shutil.copyfileobj(f, self._f, _COPY_BYTES)
    if self._f.tell() - before != want:
      raise ValueError(f'{self._path}: copied {self._f.tell() - before} '
                       f'bytes of rows, expected {want}')
    self.n += n

  def commit(self, cols: Mapping[str, np.ndarray]) -> None:
    """Writes columns.npz beside the rows and renames the store into place."""
    shape = (self.n,) + (self.row_shape if self.row_shape is not None
                         else self._empty_row_shape)
    self._f.flush()
    os.fsync(self._f.fileno())
    self._f.close()
    with open(self._tmp / COLUMNS, 'wb') as f:
      np.savez(f, **cols, format=np.asarray(FORMAT2),
               x_dtype=np.asarray(self.dtype.str),
               x_shape=np.asarray(shape, np.int64))
      f.flush()
      os.fsync(f.fileno())
    _fsync_dir(self._tmp)
    os.chmod(self._tmp, 0o755)  # mkdtemp's 0700 would hide it from others
    _replace_dir(self._tmp, self._path)
    _fsync_dir(self._path.parent)
    self.committed = True

  def _check(self, dtype: np.dtype, row_shape: tuple[int, ...]) -> None:
    if self.row_shape is None:
      self.dtype, self.row_shape = dtype, row_shape
    elif (dtype, row_shape) != (self.dtype, self.row_shape):
      raise ValueError(f'{self._path}: rows of {dtype}{list(row_shape)} after '
                       f'rows of {self.dtype}{list(self.row_shape)}')


@contextlib.contextmanager
def writing(path: str | os.PathLike, empty: np.ndarray
            ) -> Iterator[RowWriter]:
  """A FORMAT2 store built at `path`: append rows, then commit(columns).

  Leaving the block without commit (an error, a KeyboardInterrupt) removes
  the temporary folder and leaves `path` as it was. An existing `path` is
  replaced only when it is a store (never a folder of something else).
  `empty`: a zero-row array giving dtype and row shape when no row comes.
  """
  path = Path(path)
  if path.exists() and not is_store(path):
    raise ValueError(f'{path}: exists and is not a FeatureSet store; '
                     'not replacing it')
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f'.{path.name}.',
                              suffix='.tmp'))
  try:
    with open(tmp / X_FILE, 'wb') as f:
      writer = RowWriter(f, tmp, path, empty)
      yield writer
    if not writer.committed:
      raise RuntimeError(f'{path}: store written without commit')
  except BaseException as e:
    shutil.rmtree(tmp, ignore_errors=True)
    raise _named(e, path)


def is_store(path: str | os.PathLike) -> bool:
  """Whether `path` is a store folder (complete or not) or an empty one."""
  path = Path(path)
  return path.is_dir() and (not any(path.iterdir()) or
                            (path / COLUMNS).exists() or
                            (path / X_FILE).exists())


def read(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """(x as a read-only np.memmap, the other arrays) of a FORMAT2 store."""
  path = Path(path)
  if not (path / COLUMNS).is_file():
    raise ValueError(f'{path}: not a {FORMAT2} store (no {COLUMNS})')
  with np.load(path / COLUMNS, allow_pickle=False) as z:
    if 'format' not in z.files or str(z['format']) != FORMAT2:
      raise ValueError(f'{path}: not a {FORMAT2} store')
    cols = {k: z[k] for k in z.files}
  dtype = np.dtype(str(cols.pop('x_dtype')))
  shape = tuple(int(v) for v in cols.pop('x_shape'))
  return _map(path / X_FILE, dtype, shape), cols


def copy_npy_member(npz: str | os.PathLike, member: str,
                    path: str | os.PathLike,
                    cols: Mapping[str, np.ndarray]) -> None:
  """A store at `path` whose rows are the array `member` of the .npz `npz`
  (streamed from the archive), with columns `cols`."""
  with zipfile.ZipFile(npz) as zf, zf.open(member) as f:
    version = np.lib.format.read_magic(f)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    shape, fortran, dtype = read_header(f) if read_header else ((), True, None)
    empty = np.zeros((0,) + tuple(shape[1:]),
                     np.float32 if dtype is None else dtype)
    with writing(path, empty=empty) as out:
      if fortran or not shape or dtype.hasobject:  # not raw C rows: decode
        with np.load(npz, allow_pickle=False) as z:
          out.append(z[member.removesuffix('.npy')])
      else:
        out.append_raw(f, shape[0], dtype, tuple(shape[1:]))
      out.commit(cols)


def _map(file: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
  expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
  size = file.stat().st_size if file.is_file() else -1
  if size != expected:
    raise ValueError(f'{file}: {size} bytes, expected {expected} for '
                     f'{dtype} rows of shape {shape}')
  if not expected:  # mmap cannot map an empty file
    x = np.zeros(shape, dtype)
    x.setflags(write=False)
    return x
  with open(file, 'rb') as f:
    x = np.memmap(f, dtype=dtype, mode='r', shape=shape)
    x.mapped_file_id = _file_id(f)  # which file: its name may be reused
  return x


def read_mapped(x: np.ndarray, start: int, stop: int) -> np.ndarray | None:
  """Rows [start, stop) (0 ≤ start < stop ≤ len(x)) of a whole mapping
  made by `read`, by one positioned read of its file (not through the
  mapping, so the resident set does not grow); None when x is not such a
  mapping or its file was since replaced or removed (a re-extracted cache,
  a temporary store): the name would then read other bytes or none."""
  if not (isinstance(x, np.memmap) and isinstance(x.base, mmap.mmap)
          and x.flags.c_contiguous and hasattr(x, 'mapped_file_id')):
    return None
  row = int(np.prod(x.shape[1:], dtype=np.int64))
  try:
    with open(x.filename, 'rb') as f:
      if _file_id(f) != x.mapped_file_id:
        return None
      out = np.fromfile(f, dtype=x.dtype, count=(stop - start) * row,
                        offset=x.offset + start * row * x.dtype.itemsize)
  except FileNotFoundError:
    return None
  return out.reshape((stop - start,) + x.shape[1:])


def _file_id(f: BinaryIO) -> tuple[int, int]:
  st = os.fstat(f.fileno())
  return st.st_dev, st.st_ino


def _replace_dir(tmp: Path, path: Path) -> None:
  """Renames tmp to path; an existing path is first moved aside and then
  removed (a directory cannot be renamed over a non-empty one), so a crash
  in between leaves no path rather than a mixed one."""
  try:
    os.rename(tmp, path)  # path absent (or an empty folder)
    return
  except OSError as e:
    if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
      raise
  aside = Path(tempfile.mkdtemp(dir=path.parent, prefix=f'.{path.name}.',
                                suffix='.old'))
  os.rename(path, aside / path.name)
  os.rename(tmp, path)
  shutil.rmtree(aside, ignore_errors=True)  # mapped files stay readable


def _fsync_dir(path: Path) -> None:
  with contextlib.suppress(OSError):  # not every OS can open a folder
    fd = os.open(path, os.O_RDONLY)
    try:
      os.fsync(fd)
    finally:
      os.close(fd)


def _named(e: BaseException, path: Path) -> BaseException:
  """A full disk names the store being written; anything else unchanged."""
  if isinstance(e, OSError) and e.errno == errno.ENOSPC:
    named = OSError(errno.ENOSPC, 'no space left on device', str(path))
    named.__cause__ = e
    return named
  return e
