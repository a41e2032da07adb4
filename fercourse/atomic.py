"""Atomic, verifiable publishing: a reader sees the old file or the new one, never half of one.

Every file and folder fercourse writes (executed notebooks, PDFs, decoded-image caches,
feature files, model-store weights, training backups) goes through :func:`publish` or
:func:`publish_dir`:

1. the content is written to a *unique* temporary name beside the target (two processes
   writing the same target never share a temporary file),
2. flushed to disk (``fsync``) and given the permissions the user's umask asks for
   (``mkstemp`` alone would leave ``-rw-------``),
3. renamed over the target in one step, and the folder's entry synced.

A killed process leaves at most a ``.*.tmp*`` file that nobody reads. Files whose
corruption would go unnoticed (weights, features) also get a checksum: :func:`checksum`
on write, :func:`verify` on read.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back (same thread, no I/O between).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def temporary_name(path: Path) -> Path:
    """A unique hidden name beside ``path`` that keeps its suffixes (Keras checks
    ``.weights.h5``; NumPy appends ``.npy`` to names without it)."""
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".weights.h5") else path.suffix
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp{suffix}"


@contextlib.contextmanager
def publish(path: Path | str):
    """Yield a temporary path; when the block ends without error, publish it as ``path``.

    The caller writes the temporary file by any means (``model.save_weights``,
    ``np.save``, ...). On an exception the temporary file is removed and ``path`` is
    untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp} for {path}")
        _fsync_file(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def publish_dir(path: Path | str):
    """Yield a temporary folder; when the block succeeds, publish it as ``path`` in one rename.

    If another process published ``path`` first, theirs is kept (it is as good as ours:
    same key, same content) and ours is discarded.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        for child in tmp.rglob("*"):
            if child.is_file():
                _fsync_file(child)
                os.chmod(child, 0o666 & ~_umask())
        os.chmod(tmp, 0o777 & ~_umask())
        try:
            os.replace(tmp, path)
        except OSError:  # the target exists and is not empty: another writer won
            if not path.exists():
                raise
        _fsync_dir(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def exclusive(lock_file: Path | str):
    """An exclusive lock on ``lock_file`` (``filelock``; created if missing), to use as
    ``with exclusive(path):``: processes making the same expensive thing (two chapters executing
    side by side, each needing the built-in set or the same model) take turns, and the second
    finds the first one's result instead of computing it again. The lock ends with the process."""
    import filelock

    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(lock_file)


def build_once(path: Path | str, load, make):
    """A checksummed cache file made once: ``load(path)`` when ``path`` verifies; otherwise
    ``make(tmp)`` writes a temporary file (and returns the value it wrote), published as ``path``
    with its checksum. Returns what was loaded or made.

    Under an exclusive lock per file: a second process (the report's other lane) waits and loads
    what the first made instead of making it again, and can never take a file published a moment
    ago, whose checksum is not written yet, for a damaged one and delete it under its writer.
    """
    path = Path(path)
    if verify(path):
        return load(path)
    with exclusive(path.with_name(f".{path.name}.lock")):
        if verify(path):  # made by another process while this one waited
            return load(path)
        remove_with_checksum(path)  # cut short by a kill, or damaged on disk
        with publish(path) as tmp:
            value = make(tmp)
        checksum(path)
    return value


def link(source: Path | str, path: Path | str) -> Path:
    """Publish ``path`` as a second name of the finished file ``source`` (a hard link, renamed
    into place), or as a copy where the file system has no hard links. Later changes to
    ``source``'s name (deleting it, say) leave ``path`` whole."""
    source, path = Path(source), Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        try:
            os.link(source, tmp)
        except OSError:  # another device, or no hard links here
            shutil.copyfile(source, tmp)
            _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`publish`)."""
    path = Path(path)
    with publish(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text(path: Path | str, text: str, encoding: str = "utf-8") -> Path:
    """Text version of :func:`write_bytes`."""
    return write_bytes(path, text.encode(encoding))


def sha256(path: Path | str) -> str:
    """Hex sha256 of a file."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def checksum(path: Path | str) -> Path:
    """Write ``<path>.sha256`` for a published file (after it, so a kill in between only
    leaves a file without checksum, which :func:`verify` rejects)."""
    path = Path(path)
    return write_text(path.with_name(path.name + ".sha256"), sha256(path))


def verify(path: Path | str, expected: str | None = None) -> bool:
    """True when ``path`` exists and matches ``expected`` (default: its ``.sha256`` file)."""
    path = Path(path)
    if expected is None:
        side = path.with_name(path.name + ".sha256")
        if not side.exists():
            return False
        expected = side.read_text().strip()
    return path.is_file() and sha256(path) == expected


def remove_with_checksum(path: Path | str) -> None:
    """Delete a file and its ``.sha256`` (a corrupt cache entry, before recomputing it)."""
    path = Path(path)
    path.with_name(path.name + ".sha256").unlink(missing_ok=True)
    path.unlink(missing_ok=True)
