"""The two Q5 trainings as one call each, shared by the notebook and the command line.

* :func:`train_light_vgg` -- the paper's light VGG on augmented images.
* :func:`train_vgg16_transfer` -- phase 1: a head on cached frozen VGG16 features (and,
  optionally, those of the mirrored images); phase 2 (optional): block 5 fine-tuned with
  a low learning rate on augmented images.

Both go through the model store, so a second run loads instead of training.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..augment import augmentation_layers
from ..data.pipeline import as_tf_dataset
from ..env import import_tensorflow
from .features import backbone_features
from .fit import TrainConfig, TrainResult, balanced_class_weights, get_strategy, train
from .policy import apply_policy

# Quick settings: the whole chapter trains in minutes on a 2-core CPU with the built-in data.
LIGHT_VGG_QUICK = TrainConfig(epochs=8, batch_size=32, learning_rate=1e-3, patience=3, lr_patience=2,
                              augment=True, class_weights=True)
HEAD_QUICK = TrainConfig(epochs=30, batch_size=64, learning_rate=1e-3, patience=5, lr_patience=3,
                         augment=False, class_weights=False)
FINE_TUNE_QUICK = TrainConfig(epochs=3, batch_size=32, learning_rate=1e-5, patience=2, lr_patience=1,
                              augment=True, class_weights=False)


def train_light_vgg(data, config: TrainConfig = LIGHT_VGG_QUICK, *, batch_norm: bool = True,
                    policy: str | None = None, strategy: str = "default", force: bool = False,
                    store=None, verbose="auto") -> TrainResult:
    """Train (or load) the light VGG on ``data`` (an ``ExpressionDataset``).

    ``batch_norm=True`` is the authors' published variant (batch norm + dropout 0.5);
    ``False`` is the table's plain form. ``policy`` defaults to the hardware's best.
    """
    from ..models import light_vgg

    apply_policy(policy)
    n = len(data.classes)
    train_ds = as_tf_dataset(data["train"], batch_size=config.batch_size, shuffle=True, seed=config.seed,
                             augment=augmentation_layers(config.seed) if config.augment else None)
    val_ds = as_tf_dataset(data["validation"], batch_size=64)
    weights = balanced_class_weights(data["train"].labels, n) if config.class_weights else None
    name = f"light_vgg_{'bn' if batch_norm else 'plain'}"
    return train(name, lambda: light_vgg(n, batch_norm=batch_norm, dropout=0.5 if batch_norm else 0.0),
                 train_ds, val_ds, config, data_fingerprint=data.fingerprint, weights_source="he-init",
                 weights_description="He initialisation, trained from scratch (no pretrained weights)",
                 store=store, force=force, strategy=get_strategy(strategy), class_weight=weights, verbose=verbose)


@dataclasses.dataclass
class TransferResult:
    """Phase results of VGG16 transfer, and the assembled image -> probabilities model."""

    model: object
    weights: object  # fercourse.pretrained.WeightsInfo
    head: TrainResult
    fine_tune: TrainResult | None
    val_features: np.ndarray


def train_vgg16_transfer(data, head_config: TrainConfig = HEAD_QUICK, *, weights="auto",
                         fine_tune: TrainConfig | None = None, mirror: bool = False, force: bool = False,
                         store=None, verbose="auto", log=print) -> TransferResult:
    """Two-phase transfer learning of VGG16 on ``data``; see the module docstring.

    ``mirror`` adds the features of the mirrored training images (costs a second pass of the
    backbone over Train: ~2.5 min on a 2-core CPU for 1200 images).
    """
    from ..models.vgg16_transfer import VGGPreprocess, transfer_head, unfreeze_last_block, vgg16_transfer

    tf, keras = import_tensorflow()
    apply_policy("float32")  # the head is tiny; features are cached in float32
    n, size = len(data.classes), data.image_size
    model, backbone, head, info = vgg16_transfer(n, weights=weights, input_size=size, log=log)
    extractor = keras.Sequential([keras.Input((size, size, 3)), VGGPreprocess(), backbone])
    key = {"data": data.fingerprint, "weights": info.sha256 or info.source, "size": size}
    train_images, val_images = data["train"].images, data["validation"].images
    features = backbone_features(extractor, train_images, key={**key, "split": "train"})
    labels = data["train"].labels
    if mirror:  # the mirrored images as a second, label-preserving view (one more backbone pass)
        features = np.concatenate([features, backbone_features(extractor, train_images,
                                                               key={**key, "split": "train"}, flip=True)])
        labels = np.concatenate([labels, labels])
    val_features = backbone_features(extractor, val_images, key={**key, "split": "validation"})
    c = head_config
    train_ds = (tf.data.Dataset.from_tensor_slices((features, labels))
                .shuffle(len(labels), seed=c.seed).batch(c.batch_size).prefetch(tf.data.AUTOTUNE))
    val_ds = tf.data.Dataset.from_tensor_slices((val_features, data["validation"].labels)).batch(256)
    feature_shape = tuple(features.shape[1:])
    head_result = train("vgg16_head", lambda: transfer_head(feature_shape, n), train_ds, val_ds, c,
                        data_fingerprint=data.fingerprint, weights_source=f"{key['weights']}|mirror={mirror}",
                        weights_description=str(info),
                        store=store,
                        force=force, verbose=verbose)
    head.set_weights(head_result.model.get_weights())
    tuned = None
    if fine_tune is not None:
        def build():
            fresh, fresh_backbone, fresh_head, _ = vgg16_transfer(n, weights=weights, input_size=size,
                                                                 log=lambda *a: None)
            fresh_head.set_weights(head_result.model.get_weights())
            unfreeze_last_block(fresh_backbone)
            return fresh

        image_train = as_tf_dataset(data["train"], batch_size=fine_tune.batch_size, shuffle=True,
                                    seed=fine_tune.seed, augment=augmentation_layers(fine_tune.seed))
        image_val = as_tf_dataset(data["validation"], batch_size=64)
        tuned = train("vgg16_finetune", build, image_train, image_val, fine_tune, data_fingerprint=data.fingerprint,
                      weights_source=f"{key['weights']}+head:{head_result.entry.folder.name}",
                      weights_description=f"{info}; head from phase 1", store=store,
                      force=force, verbose=verbose)
        model = tuned.model
    return TransferResult(model, info, head_result, tuned, val_features)
