"""TensorFlow Lite: conversion (cached per model, format, calibration images, TensorFlow version
and this code), the interpreter, its predictions (cached) and its latency."""
from __future__ import annotations

import contextlib
import io
import os
import warnings

import numpy as np

from .. import paths, timings
from ..env import import_tensorflow, redirect_fd2
from ..memo import cached_array, cached_bytes
from .surgery import rescale_standardization, standardization_divisor

FORMATS = ("float32", "float16", "int8")


@contextlib.contextmanager
def quiet():
    """The converter prints its SavedModel signatures and MLIR notes: into the log, not the page."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            redirect_fd2(paths.cache_dir() / "logs" / "tflite.log"):
        warnings.simplefilter("ignore")
        yield


def _converter(model):
    tf, _ = import_tensorflow()
    return tf.lite.TFLiteConverter.from_keras_model(model)


def to_tflite(model, kind: str = "float32", representative: np.ndarray | None = None) -> bytes:
    """A ``.tflite`` flatbuffer of ``model`` (input (1, S, S, 3) in [0, 1]) in ``kind``.

    ``int8`` needs ``representative`` uint8 images (N, S, S, 3) to calibrate the activation
    ranges; its input is then uint8 pixels (0..255) and its output uint8 probabilities. Its
    standardisation is rescaled first (:func:`standardization_divisor`), the function unchanged.
    """
    tf, _ = import_tensorflow()
    if kind not in FORMATS:
        raise ValueError(f"kind must be one of {FORMATS}, got {kind!r}")
    if kind == "int8":
        if representative is None or not len(representative):
            raise ValueError("int8 export needs representative images (uint8, N x S x S x 3)")
        model = rescale_standardization(model, standardization_divisor(representative))
    converter = _converter(model)
    if kind == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "int8":
        def calibration():
            for image in representative:
                yield [np.asarray(image, np.float32)[None] / 255.0]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    with quiet():
        return converter.convert()


def cached_tflite(model, kind: str, representative: np.ndarray | None = None) -> bytes:
    """:func:`to_tflite`, converted once per (architecture, weights, format, calibration images,
    TensorFlow version and this module's code)."""
    tf, _ = import_tensorflow()
    calibration = np.asarray(representative) if kind == "int8" and representative is not None else None
    return cached_bytes(kind, (model, calibration, tf.__version__),
                        lambda: to_tflite(model, kind, representative), folder="exports", suffix=".tflite",
                        code=(__name__, "fercourse.export.surgery"))


def interpreter(flatbuffer: bytes, threads: int | None = None):
    """A loaded interpreter: LiteRT's when ``ai_edge_litert`` is installed, else ``tf.lite``'s."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the TensorFlow wheel still carries the same interpreter
        tf, _ = import_tensorflow()
        Interpreter = tf.lite.Interpreter
    with quiet():  # tf.lite's interpreter warns that it is deprecated in favour of LiteRT's
        runner = Interpreter(model_content=flatbuffer, num_threads=threads)
    runner.allocate_tensors()
    return runner


def predict_tflite(runner, images: np.ndarray) -> np.ndarray:
    """Class probabilities (N, C) float32 for uint8 images (N, S, S, 3), one image per call."""
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    results = []
    for image in images:
        if inp["dtype"] == np.uint8:
            x = np.asarray(image, np.uint8)[None]
        else:
            x = np.asarray(image, np.float32)[None] / 255.0
        runner.set_tensor(inp["index"], x)
        runner.invoke()
        y = runner.get_tensor(out["index"])[0]
        if out["dtype"] != np.float32:  # dequantise: real = scale * (q - zero_point)
            scale, zero = out["quantization"]
            y = scale * (y.astype(np.float32) - zero)
        results.append(y)
    return np.asarray(results, np.float32)


def cached_predictions(flatbuffer: bytes, images: np.ndarray, threads: int | None = None) -> np.ndarray:
    """:func:`predict_tflite`, computed once per (flatbuffer, images); the interpreter (with
    ``threads``, default every core) is only built when they are not cached. The threads change
    the speed only: XNNPACK splits the work, not the sums (tested)."""
    return cached_array("proba", (flatbuffer, np.asarray(images)),
                        lambda: predict_tflite(interpreter(flatbuffer, threads or os.cpu_count() or 1), images),
                        folder="exports")


def latency_ms(runner, image: np.ndarray, repeats: int = 30) -> float:
    """Median wall time of one ``invoke`` on one image, in milliseconds (after a warm-up)."""
    return timings.median_ms(lambda: predict_tflite(runner, image[None]), repeats)


def tensor_count(flatbuffer: bytes) -> int:
    """Tensors in a TFLite model (weights, activations, constants): what folding removes."""
    return len(interpreter(flatbuffer).get_tensor_details())
