"""Mobile export: a trained Keras model as TensorFlow Lite (LiteRT) files, and what each costs.

The light VGG's paper exists because phones need small, fast models. ``score_exports`` writes
the model in three formats and measures each in the interpreter:

* ``float32`` -- the Keras model as it is (the reference),
* ``float16`` -- weights stored in half precision (half the file; computed in float32),
* ``int8``    -- full-integer quantisation: int8 weights *and* activations, calibrated on
  representative training images; the input is the uint8 image itself (scale 1/255).

Batch normalisation is folded into the preceding convolution or dense layer first
(:func:`fold_batch_norm`): one layer fewer per block at inference, identical outputs. For
int8, the per-image standardisation is divided by a power of two and the first convolution's
kernel multiplied by it (:func:`rescale_standardization`): the same function, but the centred
image keeps its own fine int8 scale instead of the standardised output's coarse one.
The interpreter is LiteRT's (``ai_edge_litert``) when installed, else ``tf.lite``'s.

Conversions and the interpreter's predictions are cached (``<cache>/exports/``): a flatbuffer
is keyed by the converted model's architecture and weights, the format, the calibration images,
the TensorFlow version and this module's code; predictions by the flatbuffer's and the
images' checksums. Both are deterministic, so a re-run of the chapter converts nothing and only
re-measures the latency.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import warnings

import numpy as np

from . import timings
from .env import import_tensorflow
from .inference import outputs
from .memo import cached_array, cached_bytes

FORMATS = ("float32", "float16", "int8")


def float32_copy(model):
    """The same network and weights with every layer in float32 (a mixed-precision model's
    bfloat16/float16 compute would otherwise be baked into the exported graph)."""
    _, keras = import_tensorflow()

    def strip(value):
        if isinstance(value, dict):
            if value.get("class_name") == "DTypePolicy" or value.get("class_name") == "FloatDTypePolicy":
                return "float32"
            return {k: ("float32" if k == "dtype" and not isinstance(v, dict) else strip(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    copy = model.__class__.from_config(strip(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def fold_batch_norm(model):
    """A copy of ``model`` without BatchNormalization layers: each one that directly follows a
    Conv2D or Dense is folded into it (``w' = w * g / sqrt(v + eps)``, ``b' = (b - m) * g /
    sqrt(v + eps) + beta``). Functional chains only; raises if a BN has no foldable parent.
    """
    _, keras = import_tensorflow()
    model = float32_copy(model)
    layers = model.layers
    folded, keep = {}, []
    for i, layer in enumerate(layers):
        if isinstance(layer, keras.layers.BatchNormalization):
            parent = layers[i - 1]
            if not isinstance(parent, (keras.layers.Conv2D, keras.layers.Dense)) or parent.activation.__name__ != "linear":
                raise ValueError(f"{layer.name} does not follow a linear Conv2D/Dense; cannot fold it")
            gamma, beta, mean, var = (np.asarray(w, np.float64) for w in layer.get_weights())
            scale = gamma / np.sqrt(var + layer.epsilon)
            kernel, bias = (np.asarray(w, np.float64) for w in parent.get_weights()) if parent.use_bias else \
                (np.asarray(parent.get_weights()[0], np.float64), np.zeros_like(mean))
            folded[parent.name] = [(kernel * scale).astype(np.float32), ((bias - mean) * scale + beta).astype(np.float32)]
        else:
            keep.append(layer)
    return _rebuild_chain(model, keep, {name: {"use_bias": True} for name in folded}, folded, "folded")


def _rebuild_chain(model, layers, configs: dict, weights: dict, suffix: str):
    """A new functional chain of ``layers`` (the input layer first), each rebuilt from its config
    updated with ``configs[name]`` and given ``weights[name]`` or its own weights."""
    _, keras = import_tensorflow()
    x = inputs = keras.Input(model.input_shape[1:], name=model.layers[0].name)
    for layer in layers[1:]:
        x = layer.__class__.from_config({**layer.get_config(), **configs.get(layer.name, {})})(x)
    out = keras.Model(inputs, x, name=f"{model.name}_{suffix}")
    for layer in out.layers[1:]:
        layer.set_weights(weights.get(layer.name) or model.get_layer(layer.name).get_weights())
    return out


def standardization_divisor(representative: np.ndarray) -> float:
    """The power of two ``k`` that brings the standardised images' range within that of the
    centred pixels ``x - mean`` over the uint8 calibration images (N, S, S, 3) (at least 1).

    Why: TFLite's int8 converter gives ``x - mean`` the int8 scale of the standardised output
    ``(x - mean) / std`` it feeds (measured: 0.039 for both, when ``x - mean`` alone needs 0.006).
    Its range is ~7x wider, so the image reached the first convolution with ~36 grey levels and
    the batch-norm light VGG's int8 copy lost 1.3 points. Divided by ``k`` inside, the output's
    range is no wider than its input's, and the shared scale is the fine one.
    """
    from .models.standardize import standardize

    x = np.asarray(representative, np.float32) / 255.0
    centred = np.abs(x - x.mean(axis=(1, 2, 3), keepdims=True)).max()
    if centred < 0.5 / 255:  # flat images: nothing to centre (what is left is float round-off)
        return 1.0
    ratio = float(np.abs(standardize(x)).max() / centred)
    return float(2.0 ** max(0, int(np.ceil(np.log2(ratio)))))


def rescale_standardization(model, divisor: float):
    """A copy of ``model`` whose ``standardize`` layer divides its output by ``divisor`` too and
    whose next layer, a convolution, has its kernel multiplied by it: the same function (exactly,
    for a power of two) with a narrower input to the convolution. ``model`` unchanged, returned,
    when it has no standardize layer followed by a Conv2D or ``divisor`` is 1.
    """
    _, keras = import_tensorflow()
    from .models.standardize import PerImageStandardization

    layers = model.layers
    at = next((i for i, layer in enumerate(layers) if isinstance(layer, PerImageStandardization)), None)
    if divisor == 1 or at is None or at + 1 >= len(layers) or not isinstance(layers[at + 1], keras.layers.Conv2D):
        return model
    std, conv = layers[at], layers[at + 1]
    kernel, *rest = conv.get_weights()
    return _rebuild_chain(model, layers, {std.name: {"divisor": std.divisor * divisor}},
                          {conv.name: [kernel * np.float32(divisor), *rest]}, "rescaled")


@contextlib.contextmanager
def _quiet():
    """The converter prints its SavedModel signatures and MLIR notes: into the log, not the page."""
    from . import paths
    from .env import redirect_fd2

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
    with _quiet():
        return converter.convert()


def interpreter(flatbuffer: bytes, threads: int | None = None):
    """A loaded interpreter: LiteRT's when ``ai_edge_litert`` is installed, else ``tf.lite``'s."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the TensorFlow wheel still carries the same interpreter
        tf, _ = import_tensorflow()
        Interpreter = tf.lite.Interpreter
    with _quiet():  # tf.lite's interpreter warns that it is deprecated in favour of LiteRT's
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


def latency_ms(runner, image: np.ndarray, repeats: int = 30) -> float:
    """Median wall time of one ``invoke`` on one image, in milliseconds (after a warm-up)."""
    return timings.median_ms(lambda: predict_tflite(runner, image[None]), repeats)


@dataclasses.dataclass
class ExportRow:
    """One exported format: its size, speed, accuracy and agreement with the Keras model."""

    model: str
    format: str
    megabytes: float
    ms_per_image: float
    accuracy: float
    keras_accuracy: float
    argmax_agreement: float


def score_exports(name: str, model, images: np.ndarray, labels: np.ndarray, representative: np.ndarray, *,
                  threads: int | None = None, fold: bool = True,
                  formats=FORMATS) -> tuple[list[ExportRow], dict[str, bytes]]:
    """Export ``model`` in ``formats`` and score each on ``images`` (uint8) / ``labels``.

    ``fold=False`` keeps batch-norm layers as they are (to measure what folding buys).
    Returns the rows and the flatbuffers (``{format: bytes}``), so a caller can save them.
    """
    with _quiet():  # LiteRT's runtime beside TensorFlow's logs op-registry notes on stderr
        return _score_exports(name, model, images, labels, representative, threads, fold, formats)


def cached_tflite(model, kind: str, representative: np.ndarray | None = None) -> bytes:
    """:func:`to_tflite`, converted once per (architecture, weights, format, calibration images,
    TensorFlow version and this module's code)."""
    tf, _ = import_tensorflow()
    calibration = np.asarray(representative) if kind == "int8" and representative is not None else None
    return cached_bytes(kind, (model, calibration, tf.__version__),
                        lambda: to_tflite(model, kind, representative), folder="exports", suffix=".tflite")


def cached_predictions(flatbuffer: bytes, images: np.ndarray, threads: int | None = None) -> np.ndarray:
    """:func:`predict_tflite`, computed once per (flatbuffer, images); the interpreter (with
    ``threads``, default every core) is only built when they are not cached. The threads change
    the speed only: XNNPACK splits the work, not the sums (tested)."""
    return cached_array("proba", (flatbuffer, np.asarray(images)),
                        lambda: predict_tflite(interpreter(flatbuffer, threads or os.cpu_count() or 1), images),
                        folder="exports")


def _score_exports(name, model, images, labels, representative, threads, fold, formats):
    reference = float32_copy(model)
    # Kept per exact weights and images, like the interpreter's predictions: a warm chapter only
    # measures the latencies (the Keras forward on every image cost more than the rest).
    keras_proba = outputs(reference, np.asarray(images, np.uint8), cache="keras_proba", folder="exports")
    keras_pred = keras_proba.argmax(axis=1)
    keras_accuracy = float(np.mean(keras_pred == labels))
    source = fold_batch_norm(reference) if fold and _has_batch_norm(reference) else reference
    rows, files = [], {}
    for kind in formats:
        flat = cached_tflite(source, kind, representative if kind == "int8" else None)
        runner = interpreter(flat, threads)  # the latency is measured with the caller's threads
        pred = cached_predictions(flat, images, threads).argmax(axis=1)  # ~2x faster on 2 cores
        rows.append(ExportRow(name, kind, len(flat) / 1e6, latency_ms(runner, images[0]),
                              float(np.mean(pred == labels)), keras_accuracy, float(np.mean(pred == keras_pred))))
        files[kind] = flat
    return rows, files


def _has_batch_norm(model) -> bool:
    _, keras = import_tensorflow()
    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def export_table(rows: list[ExportRow]):
    """The rows as a DataFrame indexed by (model, format)."""
    import pandas as pd

    frame = pd.DataFrame([dataclasses.asdict(r) for r in rows]).set_index(["model", "format"])
    return frame.rename(columns={"megabytes": "MB", "ms_per_image": "ms / image",
                                 "keras_accuracy": "Keras accuracy", "argmax_agreement": "agrees with Keras"})


def tensor_count(flatbuffer: bytes) -> int:
    """Tensors in a TFLite model (weights, activations, constants): what folding removes."""
    return len(interpreter(flatbuffer).get_tensor_details())
