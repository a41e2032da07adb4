"""VGG16 transfer learning for Q5.2: a frozen (or partly unfrozen) VGG16 and a small head.

The model takes images in [0, 1] like every other model of the course; a
:class:`VGGPreprocess` layer applies VGG16's own preprocessing inside the model
(x 255, RGB -> BGR, minus the ImageNet mean: ``keras.applications.vgg16.preprocess_input``),
so nothing outside the model needs to know. The head is a separate model so that it
can be trained alone on cached backbone features (``fercourse.train.features``).
"""
from __future__ import annotations

from ..env import import_tensorflow
from ..pretrained import vgg16_backbone

tf, keras = import_tensorflow()


@keras.saving.register_keras_serializable(package="fercourse")
class VGGPreprocess(keras.layers.Layer):
    """[0, 1] RGB images -> VGG16 input: ``preprocess_input(255 x)`` ('caffe' mode)."""

    def call(self, images):
        return keras.applications.vgg16.preprocess_input(images * 255.0)


def transfer_head(feature_shape=(4, 4, 512), num_classes: int = 8, units: int = 256, dropout: float = 0.5):
    """Flatten -> BatchNorm -> Dropout -> Dense(units, relu) -> Dropout -> Dense(num_classes, softmax)."""
    layers = keras.layers
    inputs = keras.Input(feature_shape, name="vgg16_features")
    x = layers.Flatten(name="head_flatten")(inputs)
    # VGG16 activations reach ~1e3: without rescaling, the first update kills every ReLU of the
    # head (measured here: loss stuck at ln 8). Batch normalisation puts them on one scale.
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.Dropout(dropout, name="head_dropout1")(x)
    x = layers.Dense(units, activation="relu", name="head_dense")(x)
    x = layers.Dropout(dropout, name="head_dropout2")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
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


def unfreeze_last_block(backbone) -> int:
    """Make block 5 trainable (the rest stays frozen); returns the number of trainable weights."""
    backbone.trainable = True
    for layer in backbone.layers:
        layer.trainable = layer.name.startswith("block5")
    return sum(int(w.shape.num_elements()) for w in backbone.trainable_weights)
