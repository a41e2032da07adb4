"""The light VGG's 3x3 convolutions one kernel at a time: forward, input gradient and weight
gradient, each alone, against the FLOPs they do (all three do the same multiply-adds).

    .venv/bin/python benchmarks/bench_conv_kernels.py [--batch 8] [--dtype bfloat16]

Why: TensorFlow's profiler, run on the whole training step (``bench_training.kernel_profile``),
shows the backward kernels taking ~3.5-4x the forward ones. Run alone, each backward kernel
takes about as long as its forward one (weight gradients ~1.1x in float32, ~1.4x in bfloat16):
inside the step the graph runs an input gradient and a weight gradient at the same time, each
on both cores, and the profiler counts each one's stretched wall time. So the step is not held
back by slow backward kernels; what is left beyond the convolutions is the optimizer update,
the ReLU/pooling gradients and the small layers. Not part of ``run.py`` (a diagnosis, printed
as a table); a smoke test runs it at a tiny size.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_seconds_per_call  # noqa: E402

def convolutions_of(model) -> list[tuple[int, int, int]]:
    """(input size, input channels, filters) of each Conv2D of ``model``, in order - the shapes
    :func:`kernel_times` takes. Raises ValueError for a convolution that is not 3x3 "same" at
    stride 1: it would be timed as one."""
    from fercourse.env import import_tensorflow

    _, keras = import_tensorflow()
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    odd = [layer.name for layer in layers
           if (tuple(layer.kernel_size), tuple(layer.strides), layer.padding) != ((3, 3), (1, 1), "same")]
    if odd:
        raise ValueError(f"only 3x3 'same' stride-1 convolutions are timed; {model.name} has {odd}")
    return [(layer.input.shape[1], layer.input.shape[-1], layer.filters) for layer in layers]


def kernel_times(batch: int = 8, dtype: str = "float32", convolutions=None, steps: int = 20,
                 repeats: int = 5):
    """DataFrame, one row per convolution: ms of each kernel alone (best of ``repeats`` runs of
    ``steps`` calls) and its GFLOP/s (2 FLOPs per multiply-add, 3x3 "same" convolution).
    ``convolutions``: (input size, input channels, filters) each; by default the light VGG's
    after the first (whose input is the 3-channel image)."""
    if convolutions is None:
        from fercourse.models import light_vgg

        convolutions = convolutions_of(light_vgg(8))[1:]
    import pandas as pd

    from fercourse.env import import_tensorflow

    tf, _ = import_tensorflow()
    rng = np.random.default_rng(0)
    rows = []
    for size, c_in, c_out in convolutions:
        x = tf.cast(rng.normal(size=(batch, size, size, c_in)).astype("float32"), dtype)
        w = tf.cast(0.1 * rng.normal(size=(3, 3, c_in, c_out)).astype("float32"), dtype)
        dy = tf.cast(rng.normal(size=(batch, size, size, c_out)).astype("float32"), dtype)
        strides = [1, 1, 1, 1]
        kernels = {
            "forward": (tf.function(lambda x, w: tf.nn.conv2d(x, w, 1, "SAME")), (x, w)),
            "input grad": (tf.function(lambda dy, w, shape=x.shape: tf.raw_ops.Conv2DBackpropInput(
                input_sizes=list(shape), filter=w, out_backprop=dy, strides=strides, padding="SAME")), (dy, w)),
            "weight grad": (tf.function(lambda x, dy, shape=w.shape: tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=list(shape), out_backprop=dy, strides=strides, padding="SAME")), (x, dy)),
        }
        gflop = 2.0 * batch * size * size * 9 * c_in * c_out / 1e9
        row = {"input": f"{size}x{size}x{c_in}", "filters": c_out, "GFLOP": gflop}
        for name, (fn, args) in kernels.items():
            row[f"{name} ms"] = 1000 * best_seconds_per_call(lambda fn=fn, args=args: fn(*args), steps, repeats,
                                                             sync=lambda result: result.numpy())
        rows.append(row)
    table = pd.DataFrame(rows).set_index("input")
    for name in ("forward", "input grad", "weight grad"):
        table[f"{name} GFLOP/s"] = table["GFLOP"] / table[f"{name} ms"] * 1000
    return table


def summary(table) -> str:
    """One line: total ms of each kernel kind and the backward kinds relative to the forward."""
    total = {k: table[f"{k} ms"].sum() for k in ("forward", "input grad", "weight grad")}
    return (f"all {len(table)} convolutions: forward {total['forward']:.1f} ms, input grad "
            f"{total['input grad']:.1f} ms ({total['input grad'] / total['forward']:.2f}x), weight grad "
            f"{total['weight grad']:.1f} ms ({total['weight grad'] / total['forward']:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args()
    table = kernel_times(args.batch, args.dtype)
    print(f"each kernel alone (batch {args.batch}, {args.dtype}, best of 5 x 20 calls):")
    print(table.round(2).to_string())
    print(summary(table))


if __name__ == "__main__":
    main()
