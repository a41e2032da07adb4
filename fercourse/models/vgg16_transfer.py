"""VGG16 transfer learning for Q5.2: a frozen (or partly unfrozen) VGG16 and a small head.

The model takes images in [0, 1] like every other model of the course; a
:class:`VGGPreprocess` layer applies VGG16's own preprocessing inside the model
(x 255, RGB -> BGR, minus the ImageNet mean: ``keras.applications.vgg16.preprocess_input``),
so nothing outside the model needs to know. The head is a separate model so that it
can be trained alone on cached backbone features (``fercourse.train.features``).

For fine-tuning, the backbone splits at ``block4_pool``: blocks 1-4 stay frozen in both
phases, so their output is a fixed function of the image and is cached too; block 5 and
the head then train on those cached (S/16, S/16, 512) maps (:func:`block5_and_head`).
"""
from __future__ import annotations

import numpy as np

from ..env import import_tensorflow
from ..pretrained import vgg16_backbone

tf, keras = import_tensorflow()


@keras.saving.register_keras_serializable(package="fercourse")
class VGGPreprocess(keras.layers.Layer):
    """[0, 1] RGB images -> VGG16 input: ``preprocess_input(255 x)`` ('caffe' mode)."""

    def call(self, images):
        return keras.applications.vgg16.preprocess_input(images * 255.0)


@keras.saving.register_keras_serializable(package="fercourse")
class Standardize(keras.layers.Layer):
    """``(x - mean) / std`` per feature, with *fixed* statistics held as non-trainable weights.

    Set them from data with :meth:`adapt_to`. (Keras' ``Normalization`` does the same, but
    copying its weights with ``set_weights`` silently keeps the old statistics in use.)
    Computes in float32 under any policy: VGG16 features reach ~1e3, and a bfloat16 mean
    subtracted from them would keep about three significant digits.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def build(self, input_shape):
        size = int(input_shape[-1])
        self.mean = self.add_weight(name="mean", shape=(size,), initializer="zeros", trainable=False)
        self.std = self.add_weight(name="std", shape=(size,), initializer="ones", trainable=False)

    def adapt_to(self, x) -> None:
        """Statistics of ``x`` (N, features). Features constant in ``x`` (dead ReLUs) get a small
        floor instead of a zero deviation, so a new image that activates them stays finite."""
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        std = x.std(axis=0)
        self.mean.assign(x.mean(axis=0).astype("float32"))
        self.std.assign(np.maximum(std, 0.01 * std.mean() + 1e-12).astype("float32"))

    def call(self, x):
        return (x - keras.ops.cast(self.mean, x.dtype)) / keras.ops.cast(self.std, x.dtype)


def transfer_head(feature_shape=(4, 4, 512), num_classes: int = 8, units: int = 256, dropout: float = 0.5,
                  features=None):
    """Flatten -> Standardize -> Dropout -> Dense(units, relu) -> Dropout -> Dense(num_classes, softmax).

    ``features`` (N, *feature_shape), when given, sets the standardisation to their exact
    per-feature mean and deviation; otherwise ``set_weights``/``load_weights`` fill it.
    """
    layers = keras.layers
    # The head computes in float32 under any policy: it costs ~2 M multiply-adds an image, and
    # in bfloat16 it trained noisily (early stopping after 9 epochs, 39 % against 47.5 %).
    f32 = {"dtype": "float32"}
    inputs = keras.Input(feature_shape, name="vgg16_features")
    x = layers.Flatten(name="head_flatten", **f32)(inputs)
    # VGG16 activations reach ~1e3: without rescaling, the first update kills every ReLU of the
    # head (loss stuck at ln 8). The features are frozen, so their statistics are *known*: a
    # standardisation fitted to them once is exact. (Batch norm estimated them by a moving
    # average that, in a 20-step epoch, stayed near its start: on a real face set the head scored
    # 27 % in inference mode on training images it fitted at 82 %.)
    norm = Standardize(name="head_norm")
    x = norm(x)
    if features is not None:
        norm.adapt_to(features)
    x = layers.Dropout(dropout, name="head_dropout1", **f32)(x)
    x = layers.Dense(units, activation="relu", name="head_dense", **f32)(x)
    x = layers.Dropout(dropout, name="head_dropout2", **f32)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", **f32)(x)
    return keras.Model(inputs, outputs, name="vgg16_head")


def vgg16_transfer(num_classes: int = 8, *, weights="auto", input_size: int = 128, units: int = 256,
                   dropout: float = 0.5, log=print):
    """(model, backbone, head, WeightsInfo): images (B, S, S, 3) in [0, 1] -> class probabilities.

    The backbone starts frozen; :func:`unfreeze_last_block` opens block 5 for fine-tuning.
    """
    backbone, info = vgg16_backbone((input_size, input_size, 3), weights=weights, log=log)
    backbone.trainable = False
    head = transfer_head(tuple(backbone.output.shape[1:]), num_classes, units, dropout)
    inputs = keras.Input((input_size, input_size, 3), name="image")
    outputs = head(backbone(VGGPreprocess(name="vgg_preprocess")(inputs), training=False))
    return keras.Model(inputs, outputs, name="vgg16_transfer"), backbone, head, info


TRUNK_END = "block4_pool"  # blocks 1-4: frozen in both phases
BLOCK5 = ("block5_conv1", "block5_conv2", "block5_conv3")


def trunk(backbone):
    """Blocks 1-4 of ``backbone`` as a model: preprocessed (B, S, S, 3) -> (B, S/16, S/16, 512)."""
    return keras.Model(backbone.input, backbone.get_layer(TRUNK_END).output, name="vgg16_blocks1to4")


def block5_of(backbone):
    """Block 5 of ``backbone`` (its own layers, weights shared): (B, h, w, 512) -> (B, h/2, w/2, 512)."""
    x = inputs = keras.Input(tuple(backbone.get_layer(TRUNK_END).output.shape[1:]), name="block4_features")
    for name in (*BLOCK5, "block5_pool"):
        x = backbone.get_layer(name)(x)
    return keras.Model(inputs, x, name="vgg16_block5")


def block5_and_head(backbone, head, num_classes: int = 8, units: int = 256, dropout: float = 0.5):
    """A fresh, trainable copy of block 5 + head, initialised from ``backbone`` and ``head``.

    Input: cached block-4 maps (B, h, w, 512); output: class probabilities. Fine-tune it,
    then :func:`copy_back` its weights into the image model's backbone and head.
    """
    layers = keras.layers
    shape = tuple(backbone.get_layer(TRUNK_END).output.shape[1:])
    x = inputs = keras.Input(shape, name="block4_features")
    for name in BLOCK5:
        x = layers.Conv2D(512, 3, padding="same", activation="relu", name=name)(x)
    x = layers.MaxPooling2D(2, name="block5_pool")(x)
    new_head = transfer_head(tuple(x.shape[1:]), num_classes, units, dropout)
    model = keras.Model(inputs, new_head(x), name="vgg16_block5_head")
    for name in BLOCK5:
        model.get_layer(name).set_weights(backbone.get_layer(name).get_weights())
    new_head.set_weights(head.get_weights())
    return model


def copy_back(tuned, backbone, head) -> None:
    """Write a fine-tuned :func:`block5_and_head` model's weights into ``backbone`` and ``head``."""
    for name in BLOCK5:
        backbone.get_layer(name).set_weights(tuned.get_layer(name).get_weights())
    head.set_weights(tuned.get_layer("vgg16_head").get_weights())


def unfreeze_last_block(backbone) -> int:
    """Make block 5 trainable (the rest stays frozen); returns the number of trainable weights."""
    backbone.trainable = True
    for layer in backbone.layers:
        layer.trainable = layer.name.startswith("block5")
    return sum(int(w.shape.num_elements()) for w in backbone.trainable_weights)
