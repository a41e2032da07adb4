"""Large decoded sets stay on disk: selected rows of the memory-mapped cache, read on demand.

Below ``stream_bytes()`` (1 GiB by default, ``FERCOURSE_STREAM_MB`` to change) a split's
images are handled as an ordinary array, the fastest path. Above it:

* a part of a split (a hold-out, the monitor slice) is an :class:`ImageRows` -- the cache
  file plus row numbers -- instead of a copy, and
* the tf.data pipeline reads each batch's rows with ``os.preadv`` (``RowReader``), so the
  process holds a few batches, not the set. (Reading through the memory map instead would
  count every page of the file in the process's resident memory by the end of an epoch.)
"""
from __future__ import annotations

import os
import threading

import numpy as np


def stream_bytes() -> int:
    """The size above which a split is streamed from disk instead of held in memory."""
    return int(float(os.environ.get("FERCOURSE_STREAM_MB", 1024)) * 2**20)


class ImageRows:
    """Rows ``indices`` of a memory-mapped (N, S, S, C) array, read when indexed.

    Behaves like the array it stands for where the library uses one: ``len``, ``shape``,
    ``dtype``, ``nbytes``, indexing, and ``np.asarray`` (which reads the rows into memory).
    """

    def __init__(self, base: np.memmap, indices):
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64)

    @property
    def shape(self) -> tuple:
        return (len(self.indices), *self.base.shape[1:])

    @property
    def dtype(self):
        return self.base.dtype

    @property
    def ndim(self) -> int:
        return self.base.ndim

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.base.dtype.itemsize

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return self[key[0]][(slice(None), *key[1:])] if not np.isscalar(key[0]) else self[key[0]][key[1:]]
        picked = self.indices[key]
        return np.asarray(self.base[picked]) if np.ndim(picked) else np.asarray(self.base[int(picked)])

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self.base[self.indices])
        return out.astype(dtype) if dtype is not None else out


def _file_backed(images):
    """(memmap, row numbers) when ``images`` lives in a file, else None."""
    if isinstance(images, ImageRows) and isinstance(images.base, np.memmap):
        return images.base, images.indices
    if isinstance(images, np.memmap) and images.filename and images.flags.c_contiguous:
        # Only a whole-file map: a slice of one keeps the file's name and offset, not its own.
        row_bytes = int(np.prod(images.shape[1:])) * images.dtype.itemsize
        if int(images.offset) + len(images) * row_bytes == os.path.getsize(images.filename):
            return images, np.arange(len(images))
    return None


def should_stream(images) -> bool:
    """True for file-backed images larger than :func:`stream_bytes`."""
    return _file_backed(images) is not None and images.nbytes > stream_bytes()


def take_rows(images, positions):
    """``images[positions]``: a copy in memory, or an :class:`ImageRows` for a streamed set."""
    positions = np.asarray(positions, dtype=np.int64)
    if should_stream(images):
        base, rows = _file_backed(images)
        return ImageRows(base, rows[positions])
    return np.asarray(images)[positions]


class RowReader:
    """Reads rows of a file-backed image array with ``os.preadv`` (thread-safe, no mapping)."""

    def __init__(self, images):
        backed = _file_backed(images)
        if backed is None:
            raise ValueError("RowReader needs a memory-mapped array (or ImageRows of one)")
        base, self.rows = backed
        self.filename, self.offset = str(base.filename), int(base.offset)
        self.row_shape, self.dtype = tuple(base.shape[1:]), base.dtype
        self.row_bytes = int(np.prod(self.row_shape)) * base.dtype.itemsize
        self._fd, self._lock = None, threading.Lock()

    def _descriptor(self) -> int:
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self.filename, os.O_RDONLY)
            return self._fd

    def read(self, positions) -> np.ndarray:
        """Rows at ``positions`` (of the split, not of the file) -> (k, *row_shape) array."""
        fd = self._descriptor()
        out = np.empty((len(positions), *self.row_shape), self.dtype)
        for j, row in enumerate(self.rows[np.asarray(positions, dtype=np.int64)]):
            view = memoryview(out[j]).cast("B")
            if os.preadv(fd, [view], self.offset + int(row) * self.row_bytes) != self.row_bytes:
                raise OSError(f"{self.filename}: short read at row {row} (the cache file was cut short)")
        return out

    def __del__(self):
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
