"""The whole book, as a user runs it: ``python -m fercourse report --no-pdf`` cold, then warm.

    .venv/bin/python benchmarks/bench_book.py            # every chapter (cold: minutes)
    .venv/bin/python benchmarks/bench_book.py q3 q4      # only these chapters
    .venv/bin/python benchmarks/bench_book.py --keep-cache DIR   # DIR (empty) is the cache, kept

Cold: an empty cache folder (the built-in set generated, images decoded, features extracted,
every model trained). Warm: the same command again on that cache (models and features
loaded from the store). Both run the chapters in the report's default lanes (two at once on
2+ cores, longest first); a second comparison times the warm book one chapter at a time
(``--jobs 1``, the report before lanes) against the lanes, alternating them (lanes, one at a
time, lanes). Each run is a separate process, exactly the user's command; the
report's own ``build/timings.csv`` splits each chapter's seconds into the phases the library
records (generate, decode, features, train) and the rest. The PDF export is left out: it
depends on the LaTeX installation, not on this project's code.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Result  # noqa: E402

from fercourse import lanes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def run_report(chapters: list[str], cache: Path, build: Path, jobs: int | None = None):
    """Seconds of one ``report --no-pdf`` process (``jobs`` chapters at once; default: the
    report's) and its phase table (pandas)."""
    import pandas as pd

    env = {**os.environ, "FERCOURSE_CACHE": str(cache), "FERCOURSE_BUILD": str(build)}
    lanes = ["--jobs", str(jobs)] if jobs else []
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fercourse", "report", *chapters, "--no-pdf", *lanes], cwd=REPO, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    return seconds, pd.read_csv(build / "timings.csv", index_col=0)


def book(chapters: list[str], keep_cache: Path | None = None) -> tuple[list[Result], list[str]]:
    """Cold then warm report. ``keep_cache``: an empty or new folder to use as the cache and keep
    (e.g. to execute the committed notebooks on the models trained here); default: a temporary one."""
    if keep_cache is not None and keep_cache.exists() and any(keep_cache.iterdir()):
        raise SystemExit(f"{keep_cache} is not empty: a cold run needs an empty cache folder")
    with tempfile.TemporaryDirectory(prefix="fercourse-book-") as tmp:
        cache, build = keep_cache or Path(tmp) / "cache", Path(tmp) / "build"
        cold_s, cold = run_report(chapters, cache, build)
        warm_s, warm = run_report(chapters, cache, build)
        side_by_side = len(chapters) != 1 and lanes.default_jobs() > 1
        if side_by_side:  # warm again one chapter at a time, then in lanes once more
            single_s, _ = run_report(chapters, cache, build, jobs=1)
            again_s, _ = run_report(chapters, cache, build)
    which = " ".join(chapters) if chapters else "every chapter"
    results = [Result("whole book (report --no-pdf)", "cold: empty cache, everything computed and trained",
                      "warm: the same command again (stored models and features)", [cold_s], [warm_s],
                      work=which, note=f"cold {cold_s / 60:.1f} min, warm {warm_s / 60:.1f} min, "
                                       f"{lanes.default_jobs()} chapters at once")]
    if side_by_side:
        results.append(Result("whole book, warm, in lanes", "one chapter at a time (--jobs 1)",
                              f"{lanes.default_jobs()} at once, longest first, Q5's prefetch (the default)", [single_s],
                              [warm_s, again_s], work=which,
                              note=f"warm {single_s:.0f} s one at a time against {warm_s:.0f} and "
                                   f"{again_s:.0f} s in lanes"))
    lines = [f"{name} book, seconds per chapter and phase (other: narration, plots, analysis, "
             f"loading stored models):\n{table.round(2).to_string()}" for name, table in (("cold", cold), ("warm", warm))]
    return results, lines


def run(quick: bool = False) -> tuple[list[Result], list[str]]:
    return book(["q4"] if quick else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter prefixes (default: all)")
    parser.add_argument("--keep-cache", type=Path, help="an empty folder to use as the cache, kept afterwards")
    args = parser.parse_args()
    results, lines = book(args.chapters, args.keep_cache)
    for result in results:
        for key, value in result.row().items():
            print(f"{key:12s} {value}")
    print("\n\n".join(lines))


if __name__ == "__main__":
    main()
