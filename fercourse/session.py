"""One call at the top of every chapter: the process-wide choices, plot style, and a report of
what the chapter runs on.

Process-wide on purpose, and only here and in the command line: TensorFlow's log level, logical
CPU devices, op determinism and every global random generator (:func:`configure_process`), and
in a Jupyter kernel TensorFlow's native log lines sent to a file. Importing fercourse changes
none of them.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import textwrap

from . import reproducible
from .env import import_tensorflow, native_logs_to_file_in_kernel

DEFAULT_SEED = 0


LOGICAL_CPUS_ENV = "FERCOURSE_LOGICAL_CPUS"


def configure_process(seed: int = DEFAULT_SEED) -> str:
    """The process-wide choices, for :func:`setup` and the command line only: TensorFlow's C++
    and Python log levels (``TF_CPP_MIN_LOG_LEVEL=2`` unless set; its logger at ERROR),
    ``FERCOURSE_LOGICAL_CPUS=N`` logical CPU
    devices (before the first op), op determinism and every global seed
    (:func:`fercourse.reproducible.determinism_for_process`). Returns what it set, in words."""
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
    import numpy as np  # only for its version

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
