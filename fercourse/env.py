"""One call at the top of every chapter: quiet TensorFlow import, seeds, plot style, a report.

TensorFlow's C++ runtime writes log lines straight to file descriptor 2 while it
loads (CPU feature guards, oneDNN notices, CUDA probing). ``TF_CPP_MIN_LOG_LEVEL``
does not reach the ones printed before absl logging is initialised, and Jupyter
forwards descriptor 2 into the notebook -- and from there into the PDF. So the
import runs with descriptor 2 pointed at a log file in the cache folder instead.

Importing this module (or any of fercourse) changes nothing in the process: the choices that
are process-wide - seeds, op determinism, log level, logical devices, plot style - are made by
:func:`setup` and the command line, which say what they set.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import textwrap
from pathlib import Path
from typing import Iterator

from . import paths

DEFAULT_SEED = 0


@contextlib.contextmanager
def redirect_fd2(target: Path) -> Iterator[None]:
    """Point OS-level stderr (fd 2) at ``target`` for the duration of the block.

    Python's ``sys.stderr`` is flushed first so nothing written before is lost.
    """
    sys.stderr.flush()
    Path(target).parent.mkdir(parents=True, exist_ok=True)  # a fresh cache has no logs/ yet
    saved = os.dup(2)
    with open(target, "ab") as sink:
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
    made by :func:`setup` and the command line (:func:`configure_process`).
    """
    if "tensorflow" not in sys.modules or "keras" not in sys.modules:
        with redirect_fd2(paths.cache_dir() / "logs" / "tensorflow.log"):
            import tensorflow  # noqa: F401
            import keras  # noqa: F401
    tf, keras = sys.modules["tensorflow"], sys.modules["keras"]
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"fercourse needs the TensorFlow backend of Keras; KERAS_BACKEND is "
            f"{keras.backend.backend()!r}. Unset it or set it to 'tensorflow'."
        )
    return tf, keras


LOGICAL_CPUS_ENV = "FERCOURSE_LOGICAL_CPUS"


def configure_process(seed: int = DEFAULT_SEED) -> str:
    """The process-wide choices, for :func:`setup` and the command line only: TensorFlow's C++
    and Python log levels (``TF_CPP_MIN_LOG_LEVEL=2`` unless set; its logger at ERROR),
    ``FERCOURSE_LOGICAL_CPUS=N`` logical CPU
    devices (before the first op), op determinism and every global seed
    (:func:`fercourse.reproducible.determinism_for_process`). Returns what it set, in words."""
    from . import reproducible

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf, _ = import_tensorflow()
    tf.get_logger().setLevel("ERROR")  # TensorFlow's Python warnings would land in the chapters
    said = []
    split = int(os.environ.get(LOGICAL_CPUS_ENV, "0") or 0)
    if split > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * split)
            said.append(f"{split} logical CPUs")
        except RuntimeError:  # the runtime already started (an op ran): too late, and say so
            said.append(f"{LOGICAL_CPUS_ENV}={split} ignored: TensorFlow had already started")
    said.append(reproducible.determinism_for_process(seed))
    return "; ".join(said)


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
    if not _in_kernel():
        yield
        return
    log_dir = paths.cache_dir() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with redirect_fd2(log_dir / "tensorflow.log"):
        yield


_kernel_fd2_redirected = False


def native_logs_to_file_in_kernel() -> None:
    """Inside a Jupyter kernel, send descriptor 2 to ``<cache>/logs/tensorflow.log`` for the
    rest of the session (every chapter calls it through :func:`setup`).

    In a kernel, descriptor 2 carries only native libraries' log lines - Python's warnings
    and tracebacks go through the kernel's own ``sys.stderr`` - and TensorFlow 2.21 writes
    one such line whenever Keras feeds NumPy arrays or random layers through tf.data. The
    kernel would copy it into the notebook, and from there into the PDF and the book.
    """
    global _kernel_fd2_redirected
    if _kernel_fd2_redirected or not _in_kernel():
        return
    log_dir = paths.cache_dir() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    with open(log_dir / "tensorflow.log", "ab") as sink:
        os.dup2(sink.fileno(), 2)  # descriptor 2 now refers to the file; this handle may close
    _kernel_fd2_redirected = True


def plot_style() -> None:
    """A quiet, print-friendly figure style shared by all chapters."""
    import matplotlib
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    matplotlib.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "figure.figsize": (6.4, 3.6),
            "axes.titlesize": "medium",
            # Keep fonts embedded as text in PDF exports.
            "pdf.fonttype": 42,
        }
    )


def table_style() -> None:
    """pandas display options: tables narrow enough for a PDF page, 4 significant digits."""
    import pandas as pd

    pd.set_option("display.width", 88)
    pd.set_option("display.max_columns", 12)
    pd.set_option("display.precision", 4)


@dataclasses.dataclass(frozen=True)
class SessionReport:
    """What a chapter runs on. Printed as the first output of every notebook.

    ``str()`` holds what is the same on every machine (data, weights, seed, policy);
    :attr:`machine` holds what is not (devices, versions).
    """

    chapter: str
    dataset: str
    weights: str
    seed: int
    policy: str
    devices: tuple[str, ...]
    versions: dict

    def __str__(self) -> str:
        # Wrapped to 88 columns: the report prints outputs verbatim and LaTeX does not wrap them.
        fields = [("chapter", self.chapter), ("dataset", self.dataset), ("weights", self.weights),
                  ("seed", self.seed), ("policy", self.policy)]
        return "\n".join(textwrap.fill(f"{name:<8}: {value}", 88, subsequent_indent=" " * 10)
                         for name, value in fields)

    @property
    def machine(self) -> str:
        """Devices and library versions: true of this run, different on another machine."""
        versions = ", ".join(f"{k} {v}" for k, v in self.versions.items())
        return f"devices : {', '.join(self.devices)}\nversions: {versions}"

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython display hook
        printer.text(str(self))


def setup(
    chapter: str,
    *,
    dataset: str = "none",
    weights: str = "none",
    seed: int = DEFAULT_SEED,
    style: bool = True,
) -> SessionReport:
    """Prepare a chapter: quiet TensorFlow, seeds, plot style. Returns what it ran on.

    Process-wide, on purpose (a chapter's first cell is where such choices belong):
    :func:`configure_process` (log level, logical CPUs, op determinism, every global generator
    seeded with ``seed``), in a Jupyter kernel TensorFlow's C++ log lines sent to the cache's log
    (:func:`native_logs_to_file_in_kernel`), and with ``style`` matplotlib's and pandas' display
    options. ``dataset`` and ``weights`` are the chapter's own words for what it uses; they are
    echoed so that every notebook states which data and weights produced its numbers.
    """
    configure_process(seed)
    tf, keras = import_tensorflow()
    native_logs_to_file_in_kernel()
    if style:
        plot_style()
        table_style()
    import numpy as np

    devices = tuple(f"{d.device_type}:{d.name.rsplit(':', 1)[-1]}" for d in tf.config.list_logical_devices())
    versions = {
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }
    return SessionReport(
        chapter=chapter,
        dataset=dataset,
        weights=weights,
        seed=seed,
        policy=keras.config.dtype_policy().name,
        devices=devices,
        versions=versions,
    )
