"""Deterministic analysis results, computed once per inputs and cached under ``<cache>/results/``.

Some analyses of a trained model cost more than loading it: Score-CAM runs the network once per
channel and image, deletion/insertion curves once per step and image. Their results depend only
on the model (architecture and weights), the input arrays, the parameters and the code that
computes them, so a result is keyed by exactly those; a warm re-run of a chapter reads it, and any
change to weights, inputs or parameters computes it again. Files are checksummed and written
atomically, like every other cache.
"""
from __future__ import annotations

import numpy as np

from . import atomic, digests, paths

def key_of(*parts, code: str | tuple[str, ...] | None = None) -> str:
    """A digest of ``parts`` in their canonical form (:mod:`fercourse.digests`: arrays by shape,
    dtype and bytes, Keras models by architecture and weights; anything without a canonical
    form is refused), and of the code of the module(s) ``code`` (:func:`fercourse.digests.code_digest`)."""
    modules = (code,) if isinstance(code, str) else tuple(code or ())
    return digests.key(*parts, *([digests.code_digest(*modules)] if modules else []))


def _code_of(compute) -> str | None:
    """The fercourse module that defines ``compute``: its code is part of the result's key."""
    module = getattr(compute, "__module__", None) or ""
    return module if module.startswith("fercourse.") else None


def cached_bytes(name: str, parts: tuple, compute, *, folder: str = "results", suffix: str = "",
                 code: str | tuple[str, ...] | None = None) -> bytes:
    """``compute()`` (bytes), computed once per ``key_of(name, *parts)`` and the code of the
    module defining ``compute`` (or ``code``), kept as ``<cache>/<folder>/<name>-<key><suffix>``
    (checksummed, written atomically)."""
    path = paths.cache_dir() / folder / f"{name}-{key_of(name, *parts, code=code or _code_of(compute))}{suffix}"

    def make(tmp):
        data = compute()
        tmp.write_bytes(data)
        return data

    return atomic.build_once(path, lambda done: done.read_bytes(), make)


def cached_array(name: str, parts: tuple, compute, *, folder: str = "results") -> np.ndarray:
    """``compute()`` (an array), computed once per ``key_of(name, *parts)``."""
    import io

    def as_npy() -> bytes:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(compute()))
        return buffer.getvalue()

    data = cached_bytes(name, parts, as_npy, folder=folder, suffix=".npy", code=_code_of(compute))
    return np.load(io.BytesIO(data))
