"""What every benchmark shares: side-by-side repeats, median and spread, the ratio, the machine.

Absolute times are noisy on shared machines, so each benchmark runs its baseline and
fercourse's version alternately in the same process, ``repeats`` times, and reports the
median and the spread (min-max) of each and the ratio of the medians.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import time
from typing import Callable


@dataclasses.dataclass
class Result:
    """One comparison: seconds per run of the baseline and of fercourse's version."""

    benchmark: str
    baseline: str
    ours: str
    baseline_s: list[float]
    ours_s: list[float]
    work: str = ""  # what one run does, e.g. "one epoch of 320 images"
    note: str = ""

    @property
    def ratio(self) -> float:
        """How many times faster fercourse's version is (baseline median / ours median)."""
        return statistics.median(self.baseline_s) / statistics.median(self.ours_s)

    def row(self) -> dict:
        def cell(times):
            return f"{statistics.median(times):.3f} ({min(times):.3f}-{max(times):.3f})"

        return {"benchmark": self.benchmark, "work": self.work, "baseline": self.baseline,
                "baseline s": cell(self.baseline_s), "fercourse": self.ours, "fercourse s": cell(self.ours_s),
                "ratio": f"{self.ratio:.2f}x", "note": self.note}


def best_seconds_per_call(call: Callable[[], object], steps: int, repeats: int, warmup: int = 1,
                          sync: Callable[[object], object] = lambda result: None) -> float:
    """Seconds per call of ``call``: ``warmup`` untimed calls, then the best of ``repeats`` runs
    of ``steps`` calls each, ``sync`` applied to the last result of a run (e.g. ``.numpy()``, so
    that queued work is finished inside the timing). The best, not the median: a peak, which a
    run slowed by another process cannot lower."""
    for _ in range(warmup):
        sync(call())
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            result = call()
        sync(result)
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def side_by_side(baseline: Callable[[], object], ours: Callable[[], object], repeats: int) -> tuple[list, list]:
    """Alternate the two ``repeats`` times (after one untimed warm-up each); seconds per run."""
    baseline()
    ours()
    base, mine = [], []
    for _ in range(repeats):
        for fn, out in ((baseline, base), (ours, mine)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return base, mine


def machine() -> str:
    """CPU model, cores, the CPU flags that decide the numeric policy, and library versions."""
    from fercourse.env import import_tensorflow
    from fercourse.train.policy import BF16_CPU_FLAGS, cpu_flags

    tf, keras = import_tensorflow()
    model = platform.processor() or "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = sorted((cpu_flags() & (BF16_CPU_FLAGS | {"avx2", "avx512f"})))
    gpus = tf.config.list_logical_devices("GPU")
    return (f"{model}, {os.cpu_count()} cores, flags {', '.join(flags) or 'none of avx2/avx512'}; "
            f"{'GPU ' + gpus[0].name if gpus else 'no GPU'}; TensorFlow {tf.__version__}, Keras {keras.__version__}")


def print_run(run: Callable[[], tuple[list[Result], list[str]]]) -> None:
    """A benchmark's ``main``: run it, print its notes and the ratio of its first result."""
    results, notes = run()
    for line in notes:
        print(line)
    print(f"ratio (plain loop / fercourse): {results[0].ratio:.2f}x")
