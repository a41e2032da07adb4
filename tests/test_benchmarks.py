"""The benchmarks keep working: one smoke run of every benchmark at tiny size (no timing asserted)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def test_every_benchmark_runs_and_prints_its_ratio(tmp_path):
    env = {**os.environ, "FERCOURSE_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "benchmarks/run.py", "--quick"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "x |" in line]
    names = {line.split("|")[1].strip() for line in rows}
    assert {"data epoch", "data load", "VGG16 phase 1 (head)", "VGG16 phase 2 (block 5 + head)",
            "training throughput (light VGG)", "Grad-CAM", "face detection (load_dataset faces=crop)",
            "predict (every face in a scene)"} <= names
    assert "compute efficiency" in done.stdout and "GFLOP/s" in done.stdout
    # the bound the convolution kernels put on the step's share, in the same run
    assert "bound, " in done.stdout and "convolution kernels timed alone" in done.stdout
    # what training the dense layers adds to the step, and its update against the memory's pace
    assert "dense layers, " in done.stdout and "what an element-wise add moves here" in done.stdout
    # the thread settings, each in its own process (the worker checks TensorFlow took them)
    assert "thread settings (" in done.stdout and "one op at a time" in done.stdout
    assert "cores against one" in done.stdout


def test_the_kernel_profile_splits_each_layer_into_forward_and_gradient_kernels():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_training
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    table, step_ms = bench_training.kernel_profile(batch=2, steps=2, policy="float32")
    if table is None:  # a TensorFlow without the trace reader: the benchmark says so
        assert "trace reader" in step_ms
        pytest.skip(step_ms)
    convs = [name for name in table.index if "_conv" in name]
    assert len(convs) == 10 and step_ms > 0
    assert (table.loc[convs, "forward"] > 0).all() and (table.loc[convs, "weight grad"] > 0).all()
    # the first convolution's input is the image: no gradient is computed for it; every later one has one
    assert table.loc["block1_conv1", "input grad"] == 0 and (table.loc[convs[1:], "input grad"] > 0).all()
    assert table["FLOP share"].sum() == pytest.approx(1.0)


def test_the_conv_kernel_benchmark_times_each_kernel_alone():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_conv_kernels
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    table = bench_conv_kernels.kernel_times(batch=2, convolutions=((8, 4, 6), (4, 6, 6)), steps=2, repeats=1)
    assert list(table.index) == ["8x8x4", "4x4x6"]
    assert table.loc["8x8x4", "GFLOP"] == pytest.approx(2 * 2 * 8 * 8 * 9 * 4 * 6 / 1e9)
    for kind in ("forward", "input grad", "weight grad"):
        # each kernel was timed (a kernel that never ran reads 0 ms), and its rate is its FLOPs
        # over that time
        assert (table[f"{kind} ms"] > 0).all()
        np.testing.assert_allclose(table[f"{kind} GFLOP/s"], table["GFLOP"] / table[f"{kind} ms"] * 1000)
    assert "weight grad" in bench_conv_kernels.summary(table)


def test_the_kernel_bound_counts_every_convolution_kernel_of_the_step_but_the_images_gradient(monkeypatch):
    import pandas as pd

    from fercourse.models import light_vgg

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_conv_kernels
        import bench_training
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    asked = {}

    def fake_times(batch, dtype, convolutions, steps, repeats):
        asked.update(batch=batch, dtype=dtype, convolutions=list(convolutions))
        n = len(asked["convolutions"])
        return pd.DataFrame({"forward ms": [1.0] * n, "input grad ms": [10.0] * n, "weight grad ms": [100.0] * n})

    monkeypatch.setattr(bench_conv_kernels, "kernel_times", fake_times)
    ms = bench_training.kernel_ms(light_vgg(8), batch=8)
    # the light VGG's ten convolutions, as (input size, input channels, filters), in order
    assert asked["convolutions"] == [(128, 3, 16), (128, 16, 16), (64, 16, 32), (64, 32, 32), (32, 32, 64),
                                     (32, 64, 64), (16, 64, 128), (16, 128, 128), (8, 128, 128), (8, 128, 128)]
    assert asked["batch"] == 8 and asked["dtype"] == "float32"
    # ten forwards, ten weight gradients, nine input gradients (the image needs none)
    assert ms == 10 * 1.0 + 10 * 100.0 + 9 * 10.0

    # a convolution of another shape would be timed as a 3x3 one: refused instead
    from fercourse.env import import_tensorflow

    _, keras = import_tensorflow()
    inputs = keras.Input((16, 16, 3))
    other = keras.Model(inputs, keras.layers.Conv2D(4, 5, padding="same", name="five")(inputs))
    with pytest.raises(ValueError, match="five"):
        bench_training.kernel_ms(other, batch=2)


def test_the_throughput_note_compares_with_the_baselines_unstalled_epochs_too():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_training
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    # baseline: two epochs of 2 s and two stalled ones of 5 s; ours: 2.5 s each (320 images)
    note = bench_training._throughput_note(320, [2.0, 5.0, 2.0, 5.0], [2.5, 2.5])
    assert "128.0 vs 91.4 images/s by the median epoch" in note       # median of the baseline: 3.5 s
    assert "all timed epochs 128.0 vs 91.4 images/s = 1.40x" in note
    assert "baseline epochs stalled: 2 of 4" in note
    assert "against its unstalled epochs 160.0 images/s = 0.80x" in note  # ours is slower than 2 s epochs


def test_the_dense_share_times_the_update_of_exactly_the_dense_weights():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_training
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    from fercourse.models import light_vgg
    from fercourse.train.fused_adam import adam

    model = light_vgg(8)
    model.compile(adam(3e-4), "sparse_categorical_crossentropy")
    share = bench_training.dense_share(model, batch=2, steps=1, repeats=1)
    # fc1, fc2 and the output layer: kernels and biases, as the table of Q5.3 counts them
    assert share["dense_weights"] == 2048 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 8 + 8
    assert all(share[key] > 0 for key in ("step_ms", "frozen_ms", "adam_ms", "add_gb_s"))
    # the update's pace is the bytes it moves (28 per float32 weight: weight, two moments read and
    # written, gradient read) over its own time
    assert share["adam_gb_s"] == pytest.approx(28 * share["dense_weights"] / share["adam_ms"] * 1000 / 1e9)
    assert all(layer.trainable for layer in model.layers)  # the model timed is left as it was


def test_the_book_benchmark_times_the_warm_book_in_lanes_against_one_chapter_at_a_time(monkeypatch):
    import pandas as pd

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_book
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    calls, seconds = [], iter([300.0, 80.0, 120.0, 76.0])

    def fake_report(chapters, cache, build, jobs=None):  # the order of the runs is what is checked
        calls.append(jobs)
        return next(seconds), pd.DataFrame({"total": [1.0]}, index=["all"])

    monkeypatch.setattr(bench_book, "run_report", fake_report)
    monkeypatch.setenv("FERCOURSE_JOBS", "2")
    results, _ = bench_book.book(["q3", "q4"])
    assert calls == [None, None, 1, None]  # cold, warm (lanes), warm one at a time, warm (lanes)
    assert [r.benchmark for r in results] == ["whole book (report --no-pdf)", "whole book, warm, in lanes"]
    assert results[1].baseline_s == [120.0] and results[1].ours_s == [80.0, 76.0]
    assert results[1].ratio == 120.0 / 78.0
    calls.clear()
    seconds = iter([30.0, 8.0])
    assert len(bench_book.book(["q4"])[0]) == 1 and calls == [None, None]  # one chapter: no lanes
