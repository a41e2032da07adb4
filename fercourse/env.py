"""TensorFlow, imported quietly: its native start-up and runtime log lines go to a file.

TensorFlow's C++ runtime writes log lines straight to file descriptor 2 while it
loads (CPU feature guards, oneDNN notices, CUDA probing). ``TF_CPP_MIN_LOG_LEVEL``
does not reach the ones printed before absl logging is initialised, and Jupyter
forwards descriptor 2 into the notebook -- and from there into the PDF. So the
import runs with descriptor 2 pointed at a log file in the cache folder instead.

Importing this module (or any of fercourse) changes nothing in the process: the choices that
are process-wide - seeds, op determinism, log level, logical devices, plot style - are made by
:func:`fercourse.session.setup` and the command line, which say what they set.
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator

from . import paths


def tensorflow_log() -> Path:
    """Where TensorFlow's native log lines go: ``<cache>/logs/tensorflow.log``."""
    return paths.cache_dir() / "logs" / "tensorflow.log"


def _open_log(target: Path):
    Path(target).parent.mkdir(parents=True, exist_ok=True)  # a fresh cache has no logs/ yet
    return open(target, "ab")


@contextlib.contextmanager
def redirect_fd2(target: Path) -> Iterator[None]:
    """Point OS-level stderr (fd 2) at ``target`` for the duration of the block.

    Python's ``sys.stderr`` is flushed first so nothing written before is lost.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with _open_log(target) as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow():
    """Import TensorFlow and Keras 3 without C++ log noise; return ``(tf, keras)``.

    TensorFlow's start-up notices go to ``<cache>/logs/tensorflow.log`` (kept, for debugging).
    Nothing else changes: no environment variable, no seed, no determinism setting, and no op
    runs, so the caller can still configure devices and threads. The process-wide choices are
    made by :func:`fercourse.session.setup` and the command line.
    """
    if "tensorflow" not in sys.modules or "keras" not in sys.modules:
        with redirect_fd2(tensorflow_log()):
            import tensorflow  # noqa: F401
            import keras  # noqa: F401
    tf, keras = sys.modules["tensorflow"], sys.modules["keras"]
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"fercourse needs the TensorFlow backend of Keras; KERAS_BACKEND is "
            f"{keras.backend.backend()!r}. Unset it or set it to 'tensorflow'."
        )
    return tf, keras


def _in_kernel() -> bool:
    """True inside a Jupyter kernel, whose ``sys.stderr`` is not the process' descriptor 2."""
    return "ipykernel" in sys.modules and sys.stderr is not sys.__stderr__


@contextlib.contextmanager
def native_log_to_file() -> Iterator[None]:
    """Inside a Jupyter kernel, send TensorFlow's C++ log lines (descriptor 2) to
    ``<cache>/logs/tensorflow.log`` for the block; elsewhere do nothing.

    Why: TensorFlow 2.21 prints a harmless "NodeDef mentions attribute
    use_unbounded_threadpool" error line whenever a tf.data pipeline with Keras random
    layers starts, and Jupyter forwards descriptor 2 into the notebook, the PDF and the
    book. Python-level warnings still show (the kernel's ``sys.stderr`` is not
    descriptor 2); in a terminal every line shows as usual.
    """
    with redirect_fd2(tensorflow_log()) if _in_kernel() else contextlib.nullcontext():
        yield


_kernel_fd2_redirected = False


def native_logs_to_file_in_kernel() -> None:
    """Inside a Jupyter kernel, send descriptor 2 to ``<cache>/logs/tensorflow.log`` for the
    rest of the session (every chapter calls it through :func:`fercourse.session.setup`).

    In a kernel, descriptor 2 carries only native libraries' log lines - Python's warnings
    and tracebacks go through the kernel's own ``sys.stderr`` - and TensorFlow 2.21 writes
    one such line whenever Keras feeds NumPy arrays or random layers through tf.data. The
    kernel would copy it into the notebook, and from there into the PDF and the book.
    """
    global _kernel_fd2_redirected
    if _kernel_fd2_redirected or not _in_kernel():
        return
    sys.stderr.flush()
    with _open_log(tensorflow_log()) as sink:
        os.dup2(sink.fileno(), 2)  # descriptor 2 now refers to the file; this handle may close
    _kernel_fd2_redirected = True
