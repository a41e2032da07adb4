"""Data-path benchmark: generation time, decode cache, and a cached tf.data epoch vs a plain one.

    .venv/bin/python benchmarks/bench_data.py

The plain baseline is what a first attempt would write: a tf.data pipeline that reads,
decodes and resizes every JPEG again in every epoch. Prints wall times and ratios.
Uses a private temporary cache folder, so it measures cold starts honestly.
"""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Result, side_by_side  # noqa: E402

from fercourse.data import load_dataset  # noqa: E402
from fercourse.data.pipeline import as_tf_dataset  # noqa: E402
from fercourse.env import import_tensorflow  # noqa: E402
from fercourse.synthetic import ensure_dataset  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def epoch(ds) -> int:
    return sum(int(y.shape[0]) for _, y in ds)


def main() -> None:
    os.environ["FERCOURSE_CACHE"] = tempfile.mkdtemp(prefix="fercourse-bench-")  # cold starts, honestly
    tf, _ = import_tensorflow()
    info, t_generate = timed(ensure_dataset)
    data, t_first = timed(lambda: load_dataset(info.root, log=lambda *a: None))
    _, t_cached = timed(lambda: load_dataset(info.root, log=lambda *a: None))
    train = data["train"]

    files = [str(info.root / f) for f in train.files]

    def plain():
        def load(path, label):
            image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
            return tf.image.resize(image, (128, 128)) / 255.0, label
        return (tf.data.Dataset.from_tensor_slices((files, train.labels)).map(load).batch(32))

    # Each pipeline is built once (as in training) and timed on its second epoch.
    plain_ds, ours_ds = plain(), as_tf_dataset(train, batch_size=32)
    epoch(plain_ds)
    epoch(ours_ds)
    n_plain, t_plain = timed(lambda: epoch(plain_ds))
    n_ours, t_ours = timed(lambda: epoch(ours_ds))
    assert n_plain == n_ours == len(train)
    print(f"generate the default set (1600 images): {t_generate:6.2f} s")
    print(f"first load (scan + decode + cache):     {t_first:6.2f} s")
    print(f"cached load (memory-map):               {t_cached:6.2f} s   ratio {t_first / t_cached:6.1f}x")
    print(f"one epoch, plain decode-every-epoch:    {t_plain:6.2f} s")
    print(f"one epoch, fercourse cached pipeline:   {t_ours:6.2f} s   ratio {t_plain / t_ours:6.1f}x")


def run(quick: bool = False) -> tuple[list[Result], list[str]]:
    """Decoding once and memory-mapping vs decoding every epoch; first load vs cached load."""
    previous = os.environ.get("FERCOURSE_CACHE")
    os.environ["FERCOURSE_CACHE"] = tempfile.mkdtemp(prefix="fercourse-bench-")
    try:
        tf, _ = import_tensorflow()
        info, t_generate = timed(ensure_dataset)
        data, t_first = timed(lambda: load_dataset(info.root, log=lambda *a: None))
        _, t_cached = timed(lambda: load_dataset(info.root, log=lambda *a: None))
        train = data["train"]
        n = 64 if quick else len(train)
        files = [str(info.root / f) for f in train.files[:n]]

        def load(path, label):
            image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
            return tf.image.resize(image, (128, 128)) / 255.0, label

        plain_ds = tf.data.Dataset.from_tensor_slices((files, train.labels[:n])).map(load).batch(32)
        from fercourse.data import ImageSplit

        part = ImageSplit("train", train.source, train.files[:n], train.labels[:n], np.asarray(train.images[:n]))
        ours_ds = as_tf_dataset(part, batch_size=32)
        base, ours = side_by_side(lambda: epoch(plain_ds), lambda: epoch(ours_ds), 1 if quick else 3)
        return ([Result("data epoch", "decode + resize every JPEG every epoch", "decoded once, cached",
                        base, ours, work=f"one epoch of {n} images"),
                 Result("data load", "first load (scan + decode + cache)", "cached load (memory-map)",
                        [t_first], [t_cached], work=f"{len(train) + len(data['validation'])} images")],
                [f"generating the built-in set: {t_generate:.1f} s (once per machine)"])
    finally:
        if previous is None:
            os.environ.pop("FERCOURSE_CACHE", None)
        else:
            os.environ["FERCOURSE_CACHE"] = previous


if __name__ == "__main__":
    main()
