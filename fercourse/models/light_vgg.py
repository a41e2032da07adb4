"""The lightweight VGG of Hewitt & Gunes, "CNN-based Facial Affect Analysis on Mobile Devices"
(arXiv:1807.08775), exactly as the table of Q5.3 gives it.

Input 128x128x3; five blocks of two 3x3 convolutions (16, 32, 64, 128, 128 filters,
"same" padding, ReLU) each followed by 2x2 max-pooling; flatten (4*4*128 = 2048);
two Dense(1024, ReLU); Dense(8, softmax) for the classes or Dense(2, linear) for
valence/arousal. The plain form has 3,744,664 parameters with 8 classes.

``batch_norm=True`` gives the authors' published variant: batch normalisation after
each conv pair and each hidden dense layer, and dropout before the dense layers.

Batch normalisation after the convolutions is ``fercourse.models.batch_norm``'s fused form of
Keras' layer (same weights and arithmetic, a quarter less time a training step). Momentum is
0.9, not Keras' 0.99: with the few dozen steps of an epoch on a small set, 0.99 leaves the
moving statistics (what inference uses) most of the way back at their initial values, and a
model that trained well scored near chance in inference mode.

Weights start from He initialisation (right for ReLU): with Keras' default Glorot
initialisation the plain ten-conv stack stayed at chance level for 7 epochs here.

Every form starts with a weight-free per-image standardisation (layer ``standardize``,
``fercourse.models.standardize``): the table's network then sees each face at zero mean and
unit variance whatever its exposure, which ended the plain form's long plateau on the built-in
set. Parameter counts are those of the table.
"""
from __future__ import annotations

FILTERS = (16, 32, 64, 128, 128)


def _standardize(inputs):
    from .standardize import PerImageStandardization

    return PerImageStandardization(name="standardize")(inputs)


def light_vgg(num_outputs: int = 8, *, task: str = "classification", batch_norm: bool = False,
              dropout: float = 0.0, input_size: int = 128, bn_momentum: float = 0.9, anti_alias: bool = False,
              name: str | None = None):
    """Build the light VGG. Input (B, S, S, 3) in [0, 1]; output (B, num_outputs).

    ``task="classification"``: softmax over ``num_outputs`` classes (float32 output layer,
    also under a mixed-precision policy). ``task="regression"``: two outputs through tanh,
    in [-1, 1] like AffectNet's valence and arousal. The last conv block is named ``block5_conv2`` (for CAM).
    ``anti_alias=True`` (Q1): every 2x2 max-pool becomes a max over 2x2 windows at stride 1
    followed by a binomial blur and subsampling (Zhang 2019's MaxBlurPool, layer
    ``block{b}_blur``); same weights and shapes as the plain form.
    """
    from ..env import import_tensorflow
    from .batch_norm import fused_batch_normalization

    _, keras = import_tensorflow()
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    layers = keras.layers
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = _standardize(inputs)
    for b, filters in enumerate(FILTERS, start=1):
        for c in (1, 2):
            x = layers.Conv2D(filters, 3, padding="same", activation=None if batch_norm else "relu",
                              kernel_initializer="he_normal", name=f"block{b}_conv{c}")(x)
            if batch_norm:
                if c == 2:
                    x = fused_batch_normalization(momentum=bn_momentum, name=f"block{b}_bn")(x)
                x = layers.Activation("relu", name=f"block{b}_relu{c}")(x)
        if anti_alias:
            from .blurpool import BlurPool2D

            x = layers.MaxPooling2D(2, strides=1, padding="same", name=f"block{b}_pool")(x)
            x = BlurPool2D(3, 2, name=f"block{b}_blur")(x)
        else:
            x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for d in (1, 2):
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout{d}")(x)
        x = layers.Dense(1024, activation=None if batch_norm else "relu", kernel_initializer="he_normal",
                         name=f"fc{d}")(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"fc{d}_bn")(x)
            x = layers.Activation("relu", name=f"fc{d}_relu")(x)
    activation = "softmax" if task == "classification" else "tanh"
    outputs = layers.Dense(num_outputs, activation=activation, dtype="float32", name="predictions")(x)
    variant = ("bn" if batch_norm else "plain") + ("_blurpool" if anti_alias else "")
    return keras.Model(inputs, outputs, name=name or f"light_vgg_{variant}")


def light_vgg_gap(num_classes: int = 8, *, input_size: int = 128, name: str = "light_vgg_gap"):
    """The light VGG with a CAM-native head: blocks 1-4 as in the table, block 5's two
    convolutions (no pooling: CAM keeps their 8x8 maps), global average pooling, and one
    Dense(num_classes, softmax). Replaces flatten + two Dense(1024), 3.2 M of the table's
    3.7 M parameters, by 128 * num_classes + num_classes.
    """
    from ..env import import_tensorflow

    _, keras = import_tensorflow()
    layers = keras.layers
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = _standardize(inputs)
    for b, filters in enumerate(FILTERS, start=1):
        for c in (1, 2):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal",
                              name=f"block{b}_conv{c}")(x)
        if b < len(FILTERS):
            x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def copy_convolutions(source, target, *, dense: bool = False) -> list[str]:
    """Copy the weights of every convolution (and, with ``dense=True``, every dense layer)
    ``target`` shares by name with ``source``; returns the names copied (shapes must agree)."""
    copied = []
    for layer in target.layers:
        wanted = "conv" in layer.name or (dense and (layer.name.startswith("fc") or layer.name == "predictions"))
        if wanted and layer.weights:
            try:
                donor = source.get_layer(layer.name)
            except ValueError:
                continue
            layer.set_weights(donor.get_weights())
            copied.append(layer.name)
    return copied
