"""The Q5 trainings as one call each, shared by the notebooks and the command line.

* :func:`train_light_vgg` -- the paper's light VGG on augmented images.
* :func:`train_vgg16_transfer` -- phase 1: a head on cached frozen VGG16 features of the
  training images and of augmented copies of them; phase 2 (optional): block 5 and the
  head fine-tuned with a low learning rate, on cached block-4 maps or on augmented images.

Both hold out the same stratified slice of Train for early stopping; the Validation split
only scores. By default both train for their budget in updates on the data's size
(:func:`light_vgg_plan`, :func:`head_plan`; ``fercourse.train.budget``). :func:`cross_validate`
runs either over subject-independent folds.

Everything goes through the model store, so a second run loads instead of training.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import reproducible
from .augment import augmentation_key, augmentation_layers
from .data import hold_out
from .data.holdout import held_indices
from .data.pipeline import as_tf_dataset
from .env import import_tensorflow
from .evaluate.metrics import predict_split
from .inference import outputs
from .digests import weights_digest
from .train.budget import Budget
from .train.features import backbone_features, cached_outputs
from .train.fit import TrainConfig, TrainResult, balanced_class_weights, get_strategy, train
from .train.policy import policy_scope, scoped_policy

# Quick settings: the whole chapter trains in minutes on a 2-core CPU with the built-in data.
# Adam at 3e-4, because at 1e-3 the plain ten-layer ReLU stack sits at chance for its first
# epochs. Early stopping and the learning-rate decay watch a stratified 10 % of Train
# (``monitor_fraction``). The plain form crosses a plateau before it learns the finer cues, and
# the number of updates is what ends it: hence small batches (8), which give more updates per
# epoch at nearly the same images/s. The learning rate is halved only after 4 epochs without
# progress, so that it is not halved while the run is still on the plateau. The experiments
# behind each choice, with their numbers: docs/experiments.md ("Q5 training recipe").
LIGHT_VGG_QUICK = TrainConfig(epochs=15, batch_size=8, learning_rate=3e-4, patience=6, lr_patience=4,
                              augment=True, class_weights=True)
# The head trains on cached features of the original images and AUGMENTED_COPIES augmented
# copies of each (the same augmentation family as the light VGG's).
HEAD_QUICK = TrainConfig(epochs=40, batch_size=64, learning_rate=1e-3, patience=6, lr_patience=3,
                         augment=True, class_weights=True)
AUGMENTED_COPIES = 1
# The budgets in updates (fercourse.train.budget): the built-in set's Train less its monitor slice
# is 1,080 images, 135 batches of 8 for the light VGG and 34 of 64 for the head on the images and
# their augmented copies (tests/test_budget.py checks both). The ceilings bound a tiny set's run
# at ten times the recipe's epochs.
LIGHT_VGG_BUDGET = Budget(LIGHT_VGG_QUICK, reference_batches=135, max_epochs=150)
HEAD_BUDGET = Budget(HEAD_QUICK, reference_batches=34, max_epochs=400)
# Block 5 + head on the cached block-4 maps of the original training images (no augmentation
# there: the maps are fixed; the augmented copies would cost another 1,080 maps an epoch).
FINE_TUNE_QUICK = TrainConfig(epochs=3, batch_size=32, learning_rate=1e-5, patience=2, lr_patience=1,
                              augment=False, class_weights=True)


def fit_images(data, config: TrainConfig = LIGHT_VGG_QUICK) -> int:
    """How many images of Train a recipe trains on: Train less the monitor slice."""
    labels = data["train"].labels
    return len(labels) - len(held_indices(labels, config.monitor_fraction, config.seed))


def light_vgg_plan(data, **overrides) -> tuple[TrainConfig, str]:
    """(the light VGG's configuration for ``data``, why): :data:`LIGHT_VGG_BUDGET` on its size."""
    return LIGHT_VGG_BUDGET.plan(fit_images(data), **overrides)


def head_plan(data, copies: int = AUGMENTED_COPIES, **overrides) -> tuple[TrainConfig, str]:
    """(the VGG16 head's configuration for ``data``, why): it sees each training image and
    ``copies`` augmented copies of it an epoch."""
    views = 1 + (copies if overrides.get("augment", HEAD_QUICK.augment) else 0)
    return HEAD_BUDGET.plan(fit_images(data) * views, **overrides)


def _monitored(data, config: TrainConfig):
    """``(the training part of Train, the monitor slice)`` of every recipe, every global random
    generator seeded with ``config.seed`` first: tf.data derives a shuffle's order from the
    global seed *and* its own, so without it the order (and the trained weights) would depend on
    what ran before in the process."""
    import_tensorflow()[1].utils.set_random_seed(config.seed)
    return hold_out(data["train"], config.monitor_fraction, config.seed)


def _array_batches(x, y, batch_size: int, seed: int | None = None):
    """A ``tf.data`` set of the arrays ``x``, ``y`` (N, ...) in batches, reshuffled every epoch
    when ``seed`` is given."""
    tf, _ = import_tensorflow()
    data = tf.data.Dataset.from_tensor_slices((x, y))
    if seed is not None:
        data = data.shuffle(len(y), seed=seed)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _image_training(data, config: TrainConfig):
    """What every image-trained light VGG shares: (the training part of Train, its batches -
    augmented if ``config.augment`` -, the monitor slice's batches, balanced class weights or
    None)."""
    fit_part, monitor = _monitored(data, config)
    train_ds = as_tf_dataset(fit_part, batch_size=config.batch_size, shuffle=True, seed=config.seed,
                             augment=augmentation_layers(config.seed) if config.augment else None)
    monitor_ds = as_tf_dataset(monitor, batch_size=64)
    weights = balanced_class_weights(fit_part.labels, len(data.classes)) if config.class_weights else None
    return fit_part, train_ds, monitor_ds, weights


def _weights_of(source: TrainResult) -> str:
    """A stored run named by its entry and the digest of its weights: what a model trained from
    it depends on (a retrain of the source that is not bit-identical keeps the entry's name)."""
    return f"{source.entry.folder.name} (weights {weights_digest(source.model)})"


def _augmentation_key(config: TrainConfig) -> dict | None:
    """The augmentation ranges, for the store key of a run that augments."""
    return {"augmentation": augmentation_key()} if config.augment else None


@scoped_policy
@reproducible.scoped
def train_light_vgg(data, config: TrainConfig | None = None, *, batch_norm: bool = False,
                    policy: str | None = None, strategy: str = "default", force: bool = False,
                    store=None, verbose="auto", stored_only: bool = False) -> TrainResult:
    """Train (or load) the light VGG on ``data`` (an ``ExpressionDataset``).

    ``batch_norm=False`` is the table's plain form (the chapter's main model); ``True``
    the authors' published variant (batch norm + dropout 0.5). Early stopping watches
    ``config.monitor_fraction`` of Train; Validation is never seen. ``policy`` defaults to
    the hardware's best. ``config=None``: the recipe's budget on this set (:func:`light_vgg_plan`).
    """
    from .models import light_vgg

    config = config or light_vgg_plan(data)[0]
    n = len(data.classes)
    fit_part, train_ds, monitor_ds, weights = _image_training(data, config)
    name = f"light_vgg_{'bn' if batch_norm else 'plain'}"
    return train(name, lambda: light_vgg(n, batch_norm=batch_norm, dropout=0.5 if batch_norm else 0.0),
                 train_ds, monitor_ds, config, data_fingerprint=data.fingerprint, weights_source="he-init",
                 weights_description="He initialisation, trained from scratch (no pretrained weights)",
                 store=store, force=force, strategy=get_strategy(strategy), class_weight=weights, verbose=verbose,
                 key=_augmentation_key(config), stored_only=stored_only)


@dataclasses.dataclass
class TransferResult:
    """Phase results of VGG16 transfer, and the assembled image -> probabilities model.

    ``head.model`` maps cached block-5 features to probabilities (phase 1's head);
    ``model`` maps images to probabilities and carries the fine-tuned block 5 and head
    when phase 2 ran. ``val_features`` are the phase-1 head's validation inputs.
    """

    model: object
    weights: object  # fercourse.pretrained.WeightsInfo
    head: TrainResult
    fine_tune: TrainResult | None
    val_features: np.ndarray
    head_proba: np.ndarray  # (N_val, C) float64: phase 1's validation probabilities
    proba: np.ndarray  # (N_val, C) float64: the final model's (after phase 2 when it ran)
    fine_tune_on: str = "features"
    views: int = 1  # views of each training image the head saw: the original + augmented copies
    fit_labels: np.ndarray | None = None  # (N_fit,) the training images (Train less the monitor slice)
    fit_proba: np.ndarray | None = None  # (N_fit, C) the final model's probabilities on them


# The hardware's policy, as for the light VGG: the backbone's features (blocks 1-4 of every
# image and copy, ~10 GFLOP each) and block 5's fine-tuning are most of part 2's arithmetic;
# they are cached in float32 whatever the policy, and keyed by it.
@scoped_policy
@reproducible.scoped
def train_vgg16_transfer(data, head_config: TrainConfig | None = None, *, weights="auto",
                         copies: int = AUGMENTED_COPIES, fine_tune: TrainConfig | None = None,
                         fine_tune_on: str = "features", force: bool = False, store=None, verbose="auto",
                         log=print, stored_only: bool = False, policy: str | None = None) -> TransferResult:
    """Two-phase transfer learning of VGG16 on ``data``; see the module docstring.

    Blocks 1-4 run once per image and their (S/16, S/16, 512) maps are cached; block 5
    turns them into the head's features. The head trains on the training images and
    ``copies`` augmented copies of each (when ``head_config.augment``), with early
    stopping on the same stratified slice of Train as the light VGG (``head_config=None``: the
    head's budget on this set, :func:`head_plan`). Phase 2
    (``fine_tune`` given) trains block 5 and the head with a low learning rate:
    ``fine_tune_on="features"`` on the cached block-4 maps of the original images (an
    epoch skips ~90 % of the forward pass), ``"images"`` on augmented images through
    the whole model (each epoch recomputes blocks 1-4: for a GPU).
    """
    from .models.vgg16_transfer import (VGGPreprocess, block5_and_head, block5_of, copy_back, transfer_head,
                                         trunk, unfreeze_last_block, vgg16_transfer)

    if fine_tune_on not in ("features", "images"):
        raise ValueError(f"fine_tune_on must be 'features' or 'images', got {fine_tune_on!r}")
    if fine_tune is not None and fine_tune.augment and fine_tune_on == "features":
        raise ValueError("augmentation acts on images: fine-tune with fine_tune_on='images' to augment")
    c = head_config or head_plan(data, copies)[0]
    fit_part, monitor = _monitored(data, c)
    tf, keras = import_tensorflow()
    n, size = len(data.classes), data.image_size
    model, backbone, head, info = vgg16_transfer(n, weights=weights, input_size=size, log=log)
    blocks1to4 = keras.Sequential([keras.Input((size, size, 3)), VGGPreprocess(), trunk(backbone)])
    block5 = block5_of(backbone)
    # Keyed by the weights themselves (not their label), by how Train was split and by the
    # precision the backbone computed in.
    key = {"data": data.fingerprint, "weights": weights_digest(backbone), "size": size,
           "monitor": [c.monitor_fraction, c.seed], "policy": keras.config.dtype_policy().name}

    def maps(split, images, copy=0):  # blocks 1-4, then block 5 (both cached); copy 0 = as is
        augment = augmentation_layers(c.seed + 1000 * copy) if copy else None
        k = {**key, "split": split, "copy": copy, "augmentation": augmentation_key() if copy else None}
        m4 = backbone_features(blocks1to4, images, key={**k, "part": "blocks1-4"}, augment=augment)
        return m4, cached_outputs(block5, m4, key={**k, "part": "block5"})

    train4, features = maps("fit", fit_part.images)
    labels = fit_part.labels
    views = [maps("fit", fit_part.images, copy) for copy in range(1, 1 + (copies if c.augment else 0))]
    all_features = np.concatenate([features] + [f for _, f in views])
    all_labels = np.tile(labels, 1 + len(views))
    monitor4, monitor_features = maps("monitor", monitor.images)
    val4, val_features = maps("validation", data["validation"].images)
    source = f"{key['weights']}|copies={len(views)}"

    def predicted(net, x):
        # (N, classes) float64. Kept per exact weights and inputs (fercourse.memo): block 5 on
        # every block-4 map is most of the work of a warm run of this recipe.
        return outputs(net, x, batch_size=256, cache="transfer_predictions").astype("float64")

    feature_shape = tuple(features.shape[1:])
    weights_of = balanced_class_weights(all_labels, n) if c.class_weights else None
    head_result = train("vgg16_head", lambda: transfer_head(feature_shape, n, features=all_features),
                        _array_batches(all_features, all_labels, c.batch_size, c.seed),
                        _array_batches(monitor_features, monitor.labels, 256), c,
                        data_fingerprint=data.fingerprint, weights_source=source, class_weight=weights_of,
                        weights_description=f"{info}; head on {1 + len(views)} views of each image",
                        key={"augmentation": augmentation_key()} if views else None,
                        store=store, force=force, verbose=verbose, stored_only=stored_only)
    head.set_weights(head_result.model.get_weights())
    head_proba = predicted(head_result.model, val_features)
    proba, tuned = head_proba, None
    fit_proba = predicted(head_result.model, features)
    if fine_tune is not None:
        origin = dict(data_fingerprint=data.fingerprint, store=store, force=force, verbose=verbose,
                      stored_only=stored_only,
                      weights_source=f"{source}+head:{_weights_of(head_result)}",
                      weights_description=f"{info}; head from phase 1",
                      class_weight=balanced_class_weights(labels, n) if fine_tune.class_weights else None)
        if fine_tune_on == "features":
            tuned = train("vgg16_finetune_block5", lambda: block5_and_head(backbone, head, n),
                          _array_batches(train4, labels, fine_tune.batch_size, fine_tune.seed),
                          _array_batches(monitor4, monitor.labels, 256), fine_tune,
                          **origin)
            copy_back(tuned.model, backbone, head)  # the image model now carries the tuned weights
            proba = predicted(tuned.model, val4)
            fit_proba = predicted(tuned.model, train4)
        else:
            def build():
                fresh, fresh_backbone, fresh_head, _ = vgg16_transfer(n, weights=weights, input_size=size,
                                                                     log=lambda *a: None)
                fresh_head.set_weights(head_result.model.get_weights())
                unfreeze_last_block(fresh_backbone)
                return fresh

            augment = augmentation_layers(fine_tune.seed) if fine_tune.augment else None
            image_train = as_tf_dataset(fit_part, batch_size=fine_tune.batch_size, shuffle=True,
                                        seed=fine_tune.seed, augment=augment)
            tuned = train("vgg16_finetune", build, image_train, as_tf_dataset(monitor, batch_size=64), fine_tune,
                          key={"augmentation": augmentation_key()} if fine_tune.augment else None, **origin)
            model = tuned.model
            proba = predict_split(model, data["validation"])[1]
            fit_proba = predict_split(model, fit_part)[1]
    return TransferResult(model, info, head_result, tuned, val_features, head_proba, proba, fine_tune_on,
                          views=1 + len(views), fit_labels=labels, fit_proba=fit_proba)


# The CAM-native light VGG (Q5 part 4) starts from the trained plain model's convolutions, its
# new head from a logistic regression on their averaged maps (seconds, and already most of the
# accuracy), then trains all layers briefly. Starting from a random head needs several times the
# epochs for the same accuracy (docs/experiments.md, "Class activation maps").
GAP_FINE_TUNE = TrainConfig(epochs=6, batch_size=32, learning_rate=3e-4, patience=3, lr_patience=2,
                            augment=True, class_weights=True)


@scoped_policy
@reproducible.scoped
def train_light_vgg_gap(data, source: TrainResult, config: TrainConfig = GAP_FINE_TUNE, *,
                        policy: str | None = None, force: bool = False, store=None, verbose="auto",
                        stored_only: bool = False) -> TrainResult:
    """Train (or load) :func:`~fercourse.models.light_vgg_gap` from ``source``'s convolutions
    (a trained plain light VGG), on the same images, monitor slice and augmentation."""
    from .models import copy_convolutions, light_vgg_gap

    n = len(data.classes)
    fit_part, train_ds, monitor_ds, weights = _image_training(data, config)

    def build():
        model = light_vgg_gap(n, input_size=data.image_size)
        copy_convolutions(source.model, model)
        return model

    def initialize(model):  # only before training: a stored run is loaded without refitting it
        head_from_logistic_regression(model, as_tf_dataset(fit_part, batch_size=64), fit_part.labels)

    return train("light_vgg_gap", build, train_ds, monitor_ds, config, data_fingerprint=data.fingerprint,
                 initialize=initialize,
                 weights_source=f"convolutions of {_weights_of(source)}; head: logistic regression",
                 weights_description="convolutions of the trained plain light VGG; GAP head from a logistic regression",
                 store=store, force=force, class_weight=weights, verbose=verbose,
                 key=_augmentation_key(config), stored_only=stored_only)


def head_from_logistic_regression(model, images, labels, C: float = 10.0) -> float:
    """Set the final Dense layer of ``model`` (input: pooled features) to a multinomial
    logistic regression fitted on the features of ``images`` (a tf.data set of batches) with
    ``labels``; returns its training accuracy. The features come from the layer before it."""
    from sklearn.linear_model import LogisticRegression

    _, keras = import_tensorflow()
    head = model.layers[-1]
    features = outputs(keras.Model(model.inputs, head.input), images)
    features = features.reshape(len(features), -1)
    fit = LogisticRegression(C=C, max_iter=3000).fit(features, labels)
    head.set_weights([fit.coef_.T.astype(np.float32), fit.intercept_.astype(np.float32)])
    return float(fit.score(features, labels))


# Region-guided fine-tuning of the GAP variant (built-in set only): no augmentation, because the
# masks would have to move with the image; the monitor slice still decides when to stop.
REGION_FINE_TUNE = TrainConfig(epochs=4, batch_size=32, learning_rate=2e-4, patience=2, lr_patience=1,
                               augment=False, class_weights=True)
REGION_WEIGHT = 3.0  # 1.0 moved the energy in the regions from 30 % to 37 %, 3.0 to 69 % (same accuracy)


@scoped_policy
@reproducible.scoped
def train_region_guided(data, source: TrainResult, weight: float = REGION_WEIGHT,
                        config: TrainConfig = REGION_FINE_TUNE, *, policy: str | None = None,
                        force: bool = False, store=None, verbose="auto") -> TrainResult:
    """Fine-tune ``source`` (a trained GAP variant) with cross-entropy + ``weight`` x the share
    of its true-class CAM outside the expression regions (:mod:`fercourse.train.region_prior`).
    Needs the built-in set's region masks."""
    from .models import light_vgg_gap
    from .synthetic import load_masks
    from .train.region_prior import RegionGuided, pool_masks

    tf, _ = import_tensorflow()
    if not data.root.generated:
        raise ValueError("region-guided training needs the region masks of the built-in set; "
                         f"{data.name} has none")
    fit_part, monitor = _monitored(data, config)
    n = len(data.classes)
    size = source.model.get_layer("block5_conv2").output.shape[1]
    inside = pool_masks(load_masks(data, fit_part), size)
    train_ds = (tf.data.Dataset.from_tensor_slices(((fit_part.images, inside), fit_part.labels))
                .shuffle(len(fit_part), seed=config.seed)
                .batch(config.batch_size)
                .map(lambda x, y: ((tf.cast(x[0], tf.float32) / 255.0, x[1]), y))
                .prefetch(tf.data.AUTOTUNE))
    monitor_ds = as_tf_dataset(monitor, batch_size=64)
    weights = balanced_class_weights(fit_part.labels, n) if config.class_weights else None

    def build():
        model = light_vgg_gap(n, input_size=data.image_size)
        model.set_weights(source.model.get_weights())
        return RegionGuided(model, "block5_conv2", weight)

    return train("light_vgg_gap_region", build, train_ds, monitor_ds, config, data_fingerprint=data.fingerprint,
                 weights_source=f"{_weights_of(source)}; region weight {weight}",
                 weights_description="the GAP variant, fine-tuned with a penalty on CAM energy outside the regions",
                 store=store, force=force, class_weight=weights, verbose=verbose)


# The anti-aliased light VGG (Q1) has the plain form's weights and shapes; it starts from them
# and adapts briefly to the blurred down-sampling.
BLUR_FINE_TUNE = TrainConfig(epochs=3, batch_size=16, learning_rate=1e-4, patience=2, lr_patience=1,
                             augment=True, class_weights=True)


@scoped_policy
@reproducible.scoped
def train_light_vgg_blurpool(data, source: TrainResult, config: TrainConfig = BLUR_FINE_TUNE, *,
                             policy: str | None = None, force: bool = False, store=None,
                             verbose="auto") -> TrainResult:
    """Train (or load) the light VGG with MaxBlurPool (``light_vgg(anti_alias=True)``), starting
    from all of ``source``'s weights (a trained plain light VGG), on the same images, monitor
    slice and augmentation."""
    from .models import copy_convolutions, light_vgg

    n = len(data.classes)
    fit_part, train_ds, monitor_ds, weights = _image_training(data, config)

    def build():
        model = light_vgg(n, input_size=data.image_size, anti_alias=True)
        copy_convolutions(source.model, model, dense=True)
        return model

    return train("light_vgg_blurpool", build, train_ds, monitor_ds, config, data_fingerprint=data.fingerprint,
                 weights_source=f"all weights of {_weights_of(source)}",
                 weights_description="the trained plain light VGG's weights; max-pools anti-aliased",
                 store=store, force=force, class_weight=weights, verbose=verbose,
                 key=_augmentation_key(config))


# Up-convolutional inversion (Q2): a small decoder per depth, trained on the frozen light VGG's
# features of the training images (cached on disk; the decoder goes to the model store).
INVERT = TrainConfig(epochs=8, batch_size=32, learning_rate=1e-3, patience=3, lr_patience=2, augment=False,
                     class_weights=False)


@scoped_policy
@reproducible.scoped
def train_inverter(data, source: TrainResult, layer: str, config: TrainConfig = INVERT, *,
                   policy: str | None = None, force: bool = False, store=None, verbose="auto") -> TrainResult:
    """Train (or load) a :func:`~fercourse.theory.inversion.decoder` that reconstructs the
    images from ``layer``'s features of ``source`` (a trained light VGG, frozen); loss: mean
    squared error in [0, 1] pixels; the same monitor slice as the classifiers."""
    from .theory.inversion import decoder, feature_extractor

    fit_part, monitor = _monitored(data, config)
    extract = feature_extractor(source.model, layer)

    def pairs(split, shuffle):
        # Cached on disk like VGG16's features: keyed by the data, the part of Train, the
        # classifier itself (its architecture and weights, not its store entry's name: a retrain
        # that is not bit-identical gives new features) and the layer.
        features = backbone_features(extract, split.images, key={
            "kind": "inverter", "data": data.fingerprint, "split": split.name,
            "monitor": [config.monitor_fraction, config.seed], "classifier": source.model,
            "layer": layer})
        images = split.images.astype(np.float32) / 255.0
        return (_array_batches(features, images, config.batch_size, config.seed if shuffle else None),
                features.shape[1:])

    train_ds, shape = pairs(fit_part, True)
    monitor_ds, _ = pairs(monitor, False)
    return train(f"inverter_{layer}", lambda: decoder(shape, data.image_size, name=f"decoder_{layer}"),
                 train_ds, monitor_ds, config, data_fingerprint=data.fingerprint,
                 weights_source=f"features of {_weights_of(source)}",
                 weights_description=f"decoder trained on {layer} features of the stored plain light VGG",
                 store=store, force=force, loss="mean_squared_error", metrics=(), verbose=verbose)


# Valence/arousal (Q5.3's other output): the table's 2-float head on the trained classifier's
# convolutions, frozen; the head (fc1, fc2 from the classifier, a new tanh output) trains on their
# cached flattened block-5 features with MSE - seconds, where fine-tuning the whole network would
# cost minutes of the book's budget.
VA_HEAD = TrainConfig(epochs=40, batch_size=64, learning_rate=3e-4, patience=6, lr_patience=3, augment=False,
                      class_weights=False)


@dataclasses.dataclass
class ValenceArousalResult:
    """The image -> (valence, arousal) model, the head's training run, and validation scores."""

    model: object
    head: TrainResult
    report: object  # fercourse.evaluate.regression.RegressionReport on Validation (known labels)
    baseline: object  # the same for the constant training-mean predictor
    labels: np.ndarray  # (N,) classes of the scored validation images


@scoped_policy(fixed="float32")  # a small dense head on cached features
@reproducible.scoped
def train_valence_arousal(data, source: TrainResult, config: TrainConfig = VA_HEAD, *, force: bool = False,
                          store=None, verbose="auto", stored_only: bool = False) -> ValenceArousalResult:
    """Train (or load) the light VGG's valence/arousal head on ``source``'s (a trained plain
    light VGG) frozen convolutions; scores on Validation next to the training-mean predictor."""
    from .evaluate.regression import RegressionReport
    from .models import copy_convolutions, light_vgg

    fit_part, monitor = _monitored(data, config)
    _, keras = import_tensorflow()
    convs = keras.Model(source.model.input, source.model.get_layer("flatten").output)

    def features(split, name):
        known, targets = split.labelled_valence_arousal()
        x = backbone_features(convs, np.asarray(split.images)[known], key={
            "kind": "va-features", "data": data.fingerprint, "split": name,
            "monitor": [config.monitor_fraction, config.seed], "classifier": source.model})
        return x, targets, known

    x_fit, y_fit, _ = features(fit_part, "fit")
    x_mon, y_mon, _ = features(monitor, "monitor")
    x_val, y_val, known_val = features(data["validation"], "validation")

    def build():
        inputs = keras.Input(x_fit.shape[1:], name="features")
        h = keras.layers.Dense(1024, activation="relu", name="fc1")(inputs)
        h = keras.layers.Dense(1024, activation="relu", name="fc2")(h)
        # Zero start: tanh(0) = 0 with slope 1. A random start on the classifier's large ReLU
        # features saturated arousal at +1 in a test, where its gradient vanished for good.
        out = keras.layers.Dense(2, activation="tanh", kernel_initializer="zeros", name="predictions")(h)
        head = keras.Model(inputs, out, name="light_vgg_va_head")
        for name in ("fc1", "fc2"):  # the classifier's dense features as the starting point
            head.get_layer(name).set_weights(source.model.get_layer(name).get_weights())
        return head

    head = train("light_vgg_va_head", build, _array_batches(x_fit, y_fit, config.batch_size, config.seed),
                 _array_batches(x_mon, y_mon, config.batch_size), config,
                 data_fingerprint=data.fingerprint, loss="mse", metrics=("mae",),
                 weights_source=f"convolutions of {_weights_of(source)} (frozen); fc1, fc2 from it",
                 weights_description="the trained plain light VGG's convolutions and dense layers; new tanh head",
                 store=store, force=force, verbose=verbose, stored_only=stored_only)
    with policy_scope(source.policy):  # the convolutions compute as they did for the classifier
        model = light_vgg(2, task="regression", input_size=data.image_size, name="light_vgg_va")
    copy_convolutions(source.model, model)
    for name in ("fc1", "fc2", "predictions"):
        model.get_layer(name).set_weights(head.model.get_layer(name).get_weights())
    # Scored as a user would run it: the assembled image model on the validation images.
    predicted = outputs(model, np.asarray(data["validation"].images)[known_val]).astype(np.float64)
    report = RegressionReport(y_val.astype(np.float64), predicted)
    baseline = RegressionReport.mean_predictor(y_fit, y_val.astype(np.float64))
    return ValenceArousalResult(model, head, report, baseline, data["validation"].labels[known_val])


def cross_validate(data, model: str = "light_vgg", *, folds: int | str = 10, groups: str | None = None,
                   groups_csv=None, groups_column: str = "subject", batch_norm: bool = False,
                   overrides: dict | None = None, weights="auto",
                   fine_tune: TrainConfig | None = None, fine_tune_on: str = "features", force: bool = False,
                   verbose=0, log=print):
    """Cross-validate a Q5 recipe over every image of ``data`` (Train and Validation pooled).

    ``model``: "light_vgg" (``batch_norm`` for the variant) or "vgg16" (phase 1, and phase 2
    when ``fine_tune`` is given). Each fold trains as ``train`` does - the recipe's budget on
    the fold's size unless ``overrides`` set ``epochs`` - through the model store, under a data
    fingerprint of its own: a finished fold loads, a killed one resumes. Each image's subject:
    the ``groups`` regular expression on its name, or ``groups_column`` of the ``groups_csv``
    table (:func:`fercourse.evaluate.crossval.subject_groups`); neither: folds may share subjects.
    Returns a :class:`fercourse.evaluate.crossval.CrossValidation`.
    """
    from . import digests
    from .data.splits import ImageSplit
    from .evaluate.crossval import cross_validate as run_folds, subject_groups

    if model not in ("light_vgg", "vgg16"):
        raise ValueError(f"model must be 'light_vgg' or 'vgg16', got {model!r}")
    pooled = ImageSplit.joined([data["train"], data["validation"]], "all", "Train/ and Validation/")
    overrides = overrides or {}
    subjects = subject_groups(pooled.files, groups, groups_csv, groups_column)

    def fit(train_part, test_part, fold):
        fold_data = dataclasses.replace(data, splits={"train": train_part, "validation": test_part},
                                        fingerprint=digests.key({"data": data.fingerprint, "test": test_part.files}))
        if model == "light_vgg":
            config, why = light_vgg_plan(fold_data, **overrides)
            log(f"fold {fold} budget: {why}")
            run = train_light_vgg(fold_data, config, batch_norm=batch_norm, force=force, verbose=verbose)
            return predict_split(run.model, test_part)[1], _told(run)
        config, why = head_plan(fold_data, **overrides)
        log(f"fold {fold} budget: {why}")
        run = train_vgg16_transfer(fold_data, config, weights=weights, fine_tune=fine_tune, fine_tune_on=fine_tune_on,
                                   force=force, verbose=verbose, log=lambda *a: None)
        return run.proba, _told(run.fine_tune or run.head)

    return run_folds(pooled, data.classes, fit, folds=folds, groups=subjects, seed=LIGHT_VGG_QUICK.seed, log=log)


def _told(run: TrainResult) -> str:
    """Where a fold's model came from, including a resumed training."""
    resumed = run.entry.meta().get("resumed_at_epoch", 0) if not run.from_store else 0
    return run.provenance + (f" (resumed after epoch {resumed})" if resumed else "")
