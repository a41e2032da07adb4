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
from .scores import ExportRow, export_table, score_exports
from .surgery import float32_copy, fold_batch_norm, has_batch_norm, rescale_standardization, standardization_divisor
from .tflite import (FORMATS, cached_predictions, cached_tflite, interpreter, latency_ms, predict_tflite, tensor_count,
                     to_tflite)

__all__ = ["ExportRow", "FORMATS", "cached_predictions", "cached_tflite", "export_table", "float32_copy",
           "fold_batch_norm", "has_batch_norm", "interpreter", "latency_ms", "predict_tflite",
           "rescale_standardization", "score_exports", "standardization_divisor", "tensor_count", "to_tflite"]
