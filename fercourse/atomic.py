"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Everything fercourse writes (executed notebooks, PDFs, caches) goes through here, so
an interrupted run never leaves a truncated file that a later run would trust.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path | str, text: str, encoding: str = "utf-8") -> Path:
    """Text version of :func:`write_bytes`."""
    return write_bytes(path, text.encode(encoding))
