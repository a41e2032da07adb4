"""Where a book run's time goes: the expensive phases, recorded while the chapters execute.

The report command points ``FERCOURSE_TIMINGS`` at a JSON-lines file and ``FERCOURSE_CHAPTER``
at the chapter it executes; the chapter's kernel inherits both. Library code wraps its
expensive steps in :func:`phase` (generating the built-in set, decoding images, extracting
frozen-backbone features, training a model), and :func:`phase_table` splits each chapter's
wall time into those phases and the rest (narration, plots, analysis, loading stored models).
With ``FERCOURSE_TIMINGS`` unset nothing is recorded.

``FERCOURSE_STATUS`` names a one-line file that says what runs right now ("train
light_vgg_plain: epoch 5/25"): the report command shows it beside its progress bar, so a
chapter that trains for minutes is never silent.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path

ENV = "FERCOURSE_TIMINGS"
CHAPTER_ENV = "FERCOURSE_CHAPTER"
STATUS_ENV = "FERCOURSE_STATUS"
PHASES = ("generate", "decode", "features", "train")

_active = threading.local()


@contextlib.contextmanager
def phase(kind: str, what: str = ""):
    """Time the block as one ``kind`` of phase (one of PHASES), recorded if it ends normally.

    Phases do not nest: a phase inside another (a decode inside a training recipe) counts
    only towards the outer one, so per-kind sums never double count.
    """
    if kind not in PHASES:
        raise ValueError(f"unknown phase {kind!r}; phases are {PHASES}")
    outermost = not getattr(_active, "depth", 0)
    _active.depth = getattr(_active, "depth", 0) + 1
    if outermost:
        status(f"{kind} {what}".strip())
    start = time.perf_counter()
    try:
        yield
    finally:
        _active.depth -= 1
        if outermost:
            status("")
    if outermost:  # reached only when the block did not raise
        record(kind, time.perf_counter() - start, what)


def status(text: str) -> None:
    """Say what runs now (one line; "" when nothing) - a no-op without ``FERCOURSE_STATUS``."""
    path = os.environ.get(STATUS_ENV)
    if path:
        Path(path).write_text(text, encoding="utf-8")  # a torn read only shows a shorter line


def read_status(path: Path) -> str:
    """The current status line ("" if none yet)."""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def record(kind: str, seconds: float, what: str = "") -> None:
    """Append one phase to the timings file (a no-op without ``FERCOURSE_TIMINGS``)."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps({"chapter": os.environ.get(CHAPTER_ENV, ""), "phase": kind, "what": what,
                       "seconds": round(float(seconds), 3)})
    with open(path, "a", encoding="utf-8") as handle:  # one short O_APPEND write per phase
        handle.write(line + "\n")


def read(path: Path) -> list[dict]:
    """The recorded phases, in order (an empty list if the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def phase_table(events: list[dict], chapter_seconds: dict[str, float]):
    """Seconds per chapter (rows, plus ``all``) and phase (columns: PHASES, ``other``, ``total``).

    ``chapter_seconds``: each chapter's wall time (execution, from the report). ``other`` is
    what the phases do not cover. Returns a pandas DataFrame; a ``share`` row gives each
    column's fraction of the total.
    """
    import pandas as pd

    rows = {}
    for chapter, total in chapter_seconds.items():
        spent = {kind: sum(e["seconds"] for e in events if e["chapter"] == chapter and e["phase"] == kind)
                 for kind in PHASES}
        rows[chapter] = {**spent, "other": max(total - sum(spent.values()), 0.0), "total": total}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=[*PHASES, "other", "total"]).astype(float)
    table.loc["all"] = table.sum()
    total = table.loc["all", "total"]
    table.loc["share"] = table.loc["all"] / total if total else 0.0
    return table


def median_ms(call, repeats: int = 20, warmup: int = 1) -> float:
    """Median wall time of ``call()`` in milliseconds, over ``repeats`` timed calls after
    ``warmup`` untimed ones (graph tracing, memory allocation) - the one latency measure of the
    comparison table and the export table (``timeit``, one call per timing)."""
    import statistics
    import timeit

    for _ in range(warmup):
        call()
    # the clock is looked up at each reading, so a test can stand a fake one in for it
    timer = timeit.Timer(call, timer=lambda: time.perf_counter())
    return statistics.median(timer.repeat(repeat=repeats, number=1)) * 1000.0
