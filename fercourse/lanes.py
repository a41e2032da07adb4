"""Chapters executed side by side: how many at once, in which order, and what the idle lane does.

One chapter alone keeps a 2-core CPU only partly busy (narration, plotting, sympy and much of
the evaluation run on one core), so the report runs two at once, each in its own kernel, the
longest first. Q5 is longer than Q1-Q4 together, so the second lane would then idle while Q5
trains; instead it trains beforehand, through the command line, a model that Q5 trains later
(:data:`PREFETCH`). The model store's per-entry lock makes that safe: whichever process comes
second waits and loads what the first one stored, so nothing is trained twice, and a prefetch
that fails costs nothing but its time (the chapter trains the model itself).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import paths, timings
from .errors import SettingError

JOBS_ENV = "FERCOURSE_JOBS"


@dataclasses.dataclass(frozen=True)
class Prefetch:
    """A training of ``chapter``'s, run ahead by ``python -m fercourse <argv>``: the command that
    trains what the chapter's cell trains, so the same model-store entry."""

    chapter: str  # the chapter's file stem
    name: str  # the model-store name it fills, e.g. "light_vgg_bn"
    argv: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"prefetch {self.name}"


# Q5's batch-norm light VGG (its cell: recipes.train_light_vgg(data, batch_norm=True)) - the
# longest training in the book that no other chapter needs and that depends on no other model.
PREFETCH = (Prefetch("q5_facial_expressions", "light_vgg_bn", ("train", "light_vgg", "--batch-norm")),)


def whole_count(text: str) -> int | None:
    """``text`` as a whole number >= 1 (a count of chapters), or None when it is not one."""
    return int(text) if text.isdigit() and int(text) >= 1 else None


def default_jobs() -> int:
    """How many chapters execute at once by default: two where the CPU has two cores or more
    (more lanes than two only split the same cores finer). ``FERCOURSE_JOBS`` overrides."""
    chosen = os.environ.get(JOBS_ENV, "").strip()
    if chosen:
        if whole_count(chosen) is None:
            raise SettingError(f"{JOBS_ENV}={chosen!r}: expected a whole number of chapters >= 1")
        return whole_count(chosen)
    return max(1, min(2, os.cpu_count() or 1))


def recorded_seconds(notebook: Path) -> float | None:
    """The code cells' execution time (s) nbclient recorded in ``notebook`` (each cell's
    ``execute_input`` to ``execute_reply``), or None where it holds none."""
    import json

    try:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return None
    stamps = [cell.get("metadata", {}).get("execution", {}) for cell in cells]
    spans = [_dt.datetime.fromisoformat(s["shell.execute_reply"]) - _dt.datetime.fromisoformat(s["iopub.execute_input"])
             for s in stamps if s.get("iopub.execute_input") and s.get("shell.execute_reply")]
    return sum(span.total_seconds() for span in spans) if spans else None


def longest_first(notebooks: list[Path], build: Path) -> list[Path]:
    """``notebooks`` in the order to start them when several execute at once: longest first
    (by the time recorded in the build folder's executed copy - this machine's last run - or
    else in the committed notebook), so that the longest chapter never starts last and leaves
    the other lanes idle at the end. Chapters with no recorded time keep book order, last."""
    def expected(notebook: Path) -> float:
        for copy in (build / "executed" / notebook.name, notebook):
            seconds = recorded_seconds(copy)
            if seconds is not None:
                return seconds
        return -1.0

    return sorted(notebooks, key=expected, reverse=True)  # sorted is stable: ties keep book order


def plan(order: list[Path], jobs: int, prefetch: tuple[Prefetch, ...] | None = None) -> list:
    """The start order of the lanes' work: ``order`` (chapters, longest first) with the
    prefetches of the chapters in it placed right after the first chapter, so that the second
    lane begins with them while the longest chapter starts in the first. One lane: no prefetch
    (it would only move the training earlier in the same lane)."""
    stems = {notebook.stem for notebook in order}
    ahead = [p for p in (PREFETCH if prefetch is None else prefetch) if p.chapter in stems] if jobs > 1 else []
    return [*order[:1], *ahead, *order[1:]]


def run(chapters: list[Path], build: Path, jobs: int | None, log, *, phase_log: Path | None = None,
        logs_dir: Path | None = None) -> tuple[list, dict]:
    """Execute ``chapters`` in ``jobs`` lanes (default :func:`default_jobs`), longest first,
    with their prefetches: ``(work in start order, execute_all's results)``."""
    jobs = jobs or default_jobs()
    work = plan(longest_first(chapters, build), jobs)
    return work, execute_all(work, max(1, min(jobs, len(work))), log, phase_log=phase_log, logs_dir=logs_dir)


def run_prefetch(task: Prefetch, env: dict[str, str], log_file: Path, on_process=None) -> bool:
    """Run ``task``'s command in its own process, its output into ``log_file``; True when it
    succeeded. A failure is not an error: the chapter trains the model itself."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "w", encoding="utf-8") as out:
        process = subprocess.Popen([sys.executable, "-m", "fercourse", *task.argv], cwd=paths.REPO_ROOT,
                                   env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
        if on_process is not None:
            on_process(process)
        return process.wait() == 0


def execute(notebook: Path, timeout: int = 3600, progress: bool | None = None, *,
            env: dict[str, str] | None = None, position: int | None = None, on_kernel=None):
    """Run every cell of ``notebook`` in a fresh kernel, in its own folder; return the executed node.

    The kernel talks over IPC sockets in a private temporary folder (not TCP on localhost, which
    ipykernel warns about once per chapter). ``env``: variables set for this kernel only (on top
    of this process's environment), so that chapters executing side by side in threads never
    see each other's settings. ``progress`` shows a bar of the code cells on stderr - which
    chapter, which cell of how many, elapsed time, and what the running cell does when it trains
    or extracts features ("train light_vgg_plain: epoch 5/25"; read from the kernel's
    ``timings.status`` file twice a second) - by default when stderr is a terminal;
    ``position`` is the bar's line when several chapters run at once; ``on_kernel`` is called
    with the kernel's manager before it starts (to interrupt it from another thread).
    """
    import tempfile

    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from tqdm.auto import tqdm

    nb = nbformat.read(notebook, as_version=4)
    cells = sum(cell.cell_type == "code" for cell in nb.cells)
    show = sys.stderr.isatty() if progress is None else progress
    with tempfile.TemporaryDirectory(prefix="fercourse-kernel-") as sockets, \
            tqdm(total=cells, desc=notebook.stem, unit="cell", disable=not show, leave=True,
                 position=position) as bar, \
            _show_status(Path(sockets) / "status", bar, enabled=show):
        kernel_env = {**os.environ, **(env or {}), timings.STATUS_ENV: str(Path(sockets) / "status")}
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(nb, km=manager, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(notebook.parent)}},
                                on_cell_executed=lambda **_: bar.update(1))
        if on_kernel is not None:
            on_kernel(manager)
        try:
            client.execute(env=kernel_env)  # passed on to KernelManager.start_kernel
        finally:  # a kernel manager passed in is ours to stop (nbclient stops only its own)
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
    return nb


@contextlib.contextmanager
def _show_status(path: Path, bar, enabled: bool, every: float = 0.5):
    """While the block runs, copy the kernel's status line into the bar's postfix."""
    if not enabled:
        yield
        return
    done = threading.Event()

    def follow():
        shown = None
        while not done.wait(every):
            text = timings.read_status(path)
            if text != shown:
                bar.set_postfix_str(text, refresh=True)
                shown = text

    thread = threading.Thread(target=follow, name="fercourse-status", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def execute_all(work: list, jobs: int, log, *, phase_log: Path | None = None,
                logs_dir: Path | None = None) -> dict:
    """Run ``work`` (chapter notebooks and :class:`Prefetch` tasks, in start order) in ``jobs``
    lanes - threads, each driving its own kernel or process; return ``{item: (result, wall
    seconds)}``, the result being the executed notebook node, or for a prefetch whether it
    succeeded. Each kernel and process records its phases into ``phase_log`` (when given) under
    its chapter's name or its label. After a chapter fails no work starts, the running work
    finishes, and the failure is raised. Ctrl-C stops the running kernels and processes (kernels
    run in their own sessions, so the terminal's signal does not reach them)."""
    from concurrent.futures import ThreadPoolExecutor, wait

    lines: dict[str, int] = {}  # thread -> progress-bar line, so that bars shown at once never overlap
    stoppers: list = []  # how to stop what runs: interrupt a kernel, terminate a process
    claim, failed = threading.Lock(), threading.Event()

    def one(item):
        if failed.is_set():
            return None  # skipped: a chapter failed or the user interrupted
        prefetching = isinstance(item, Prefetch)
        label = item.label if prefetching else item.stem
        with claim:  # one thread at a time: two prints at once interleave their text and newlines
            line = lines.setdefault(threading.current_thread().name, len(lines)) if jobs > 1 else None
            log(f"{label} (for {item.chapter}) ..." if prefetching else f"executing {item.name} ...")
        env = {timings.ENV: str(phase_log), timings.CHAPTER_ENV: label} if phase_log else {}
        start = time.perf_counter()
        if prefetching:
            where = (logs_dir or paths.build_dir() / "logs") / f"{label.replace(' ', '-')}.log"
            ok = run_prefetch(item, env, where, on_process=lambda p: stoppers.append(p.terminate))
            if not ok:
                with claim:
                    log(f"{label} failed (see {paths.display_path(where)}); {item.chapter} trains it itself")
            return ok, time.perf_counter() - start
        try:
            nb = execute(item, position=line, env=env,
                         on_kernel=lambda manager: stoppers.append(manager.interrupt_kernel))
        except BaseException:
            failed.set()
            raise
        return nb, time.perf_counter() - start

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="fercourse-lane")
    try:
        futures = {item: pool.submit(one, item) for item in work}
        while wait(futures.values(), timeout=0.5).not_done:  # a timed wait: Ctrl-C gets through
            pass
    except KeyboardInterrupt:
        failed.set()
        for stop in stoppers:
            with contextlib.suppress(Exception):  # already finished
                stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for future in futures.values():  # the first failure (in start order) is raised
        future.result()
    return {item: future.result() for item, future in futures.items()}
