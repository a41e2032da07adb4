"""Training throughput of the light VGG: fercourse's pipeline and policy vs plain Keras, the
step's share of the CPU's peak, and where the step's time goes.

    .venv/bin/python benchmarks/bench_training.py [--images 320] [--repeats 5]

Baseline: what a first attempt writes - ``keras.utils.image_dataset_from_directory`` over
the built-in set's JPEGs (decoded every epoch, no cache), rescaling, random flip and
rotation, ``model.fit``, float32, batch 32. Ours: ``load_dataset`` (decoded once, cached),
``as_tf_dataset`` with the chapter's augmentation, the policy the CPU calls for, the
recipe's batch size. Both time one epoch over the same ``--images`` training images.

Equal budget (full run only): both trained on the whole built-in set for the recipe's
epochs - the baseline for all of them, fercourse's recipe with its early stopping on a
slice of Train - to show that the speed costs no validation accuracy.

Augmentation alone: Keras' RandomFlip, RandomRotation, RandomZoom and RandomTranslation in a
row (four resamplings) + contrast + brightness, vs ``augmentation_layers`` (the same ranges,
one fused warp), each mapped over batches of 16 in ``tf.data``.

Epochs are timed inside one ``fit`` of several epochs (the first left out), each side as it
trains for real: the baseline with Keras' new iterator every epoch, ours with
``fit.one_iterator`` (the first step of about half the baseline's epochs stalls for seconds)
and ``fit.steps_per_execution`` steps per call of the compiled step.

Compute efficiency: FLOPs per training step (forward x 3: the backward pass costs about
twice the forward) times images/s, against a 2048 x 2048 matmul in the same dtype - for the
training step alone (a batch in memory) and for whole epochs of ``fit`` (pipeline included);
and the bound on it that the step's convolution kernels, each timed alone, set; then what
training the dense layers adds (the step with them frozen, their Adam update alone against
the memory's pace).
Forms: the step of the batch-norm and anti-aliased variants with fercourse's fused batch norm
and average-pool blur against Keras' layer and a depthwise convolution.
Threads: the step alone under TensorFlow's default thread pools, inter-op 1 (one op at a time
on every core), intra-op 1 (one core per op, ops side by side) and one core, each setting in a
fresh process.
Profile: each layer's forward + backward time, alone, against its share of the FLOPs; and the
kernels of the real training step from TensorFlow's profiler (forward, weight gradient, input
gradient per layer).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Result, best_seconds_per_call, side_by_side  # noqa: E402


def layer_flops(model) -> dict[str, float]:
    """Forward FLOPs per image (2 per multiply-add) of each Conv2D / Dense layer."""
    from fercourse.env import import_tensorflow

    _, keras = import_tensorflow()
    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k = layer.kernel.shape
            out[layer.name] = 2.0 * h * w * k[0] * k[1] * k[2] * c_out
        elif isinstance(layer, keras.layers.Dense):
            out[layer.name] = 2.0 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return out


def matmul_flops_per_s(dtype: str, n: int = 2048, repeats: int = 15) -> float:
    """FLOP/s of an n x n matmul in ``dtype`` (the CPU's practical peak for dense math): the
    best of ``repeats`` runs - a peak, so a run slowed by another process cannot lower it (the
    median once came out at half the usual value and made the step look 115 % efficient)."""
    from fercourse.env import import_tensorflow

    tf, _ = import_tensorflow()
    a = tf.random.normal((n, n), dtype=tf.float32)
    a = tf.cast(a, dtype)
    f = tf.function(lambda x: tf.matmul(x, x))
    return 2.0 * n ** 3 / best_seconds_per_call(lambda: f(a), 1, repeats, sync=lambda r: r.numpy())


def _subset_tree(source: Path, files: list[str], target: Path) -> Path:
    """Symlinks to ``files`` under ``target`` (same class folders), for the directory baseline."""
    for rel in files:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            os.symlink(source / rel, dest)
    return target


def epochs_side_by_side(base_model, base_ds, our_model, our_ds, repeats: int, epochs: int = 4):
    """Seconds per epoch of each, steady state: ``repeats`` alternating ``fit`` calls of
    ``epochs`` epochs each, the first epoch of every call (tracing, warm-up) left out.

    Each side trains as it would for real: the baseline hands Keras its finite data set (a new
    iterator every epoch, Keras' default), ours goes through ``fit.one_iterator`` as
    ``fercourse.train.train`` does. Timing whole epochs inside one ``fit`` - not one ``fit``
    call per epoch - keeps what happens between epochs in the measurement.
    """
    from fercourse.env import import_tensorflow
    from fercourse.train.fit import one_iterator

    _, keras = import_tensorflow()

    class EpochTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    repeated, steps = one_iterator(our_ds)
    base, ours = [], []
    for _ in range(repeats):
        for model, kwargs, out in ((base_model, {"x": base_ds}, base),
                                   (our_model, {"x": repeated, "steps_per_epoch": steps}, ours)):
            timer = EpochTimes()
            model.fit(epochs=epochs, verbose=0, callbacks=[timer], **kwargs)
            out.extend(timer.seconds[1:])
    return base, ours


def _one_batch(model, batch_size: int):
    """A fixed random batch (images, labels) as tensors, for timing ``model``'s training step."""
    from fercourse.env import import_tensorflow

    tf, _ = import_tensorflow()
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((batch_size, *model.input_shape[1:]), np.float32))
    y = tf.constant(rng.integers(0, model.output_shape[-1], batch_size).astype("int32"))
    return x, y


def _step_model(policy: str, optimizer=None, *, classes: int = 8, train_dense: bool = True, **kwargs):
    """A light VGG (``light_vgg(classes, **kwargs)``) built under ``policy`` and compiled as the
    step timings here use it: ``optimizer`` (default fercourse's fused Adam) at 3e-4, sparse
    cross-entropy. ``train_dense=False`` freezes its dense layers before compiling."""
    from fercourse.env import import_tensorflow
    from fercourse.models import light_vgg
    from fercourse.train import policy_scope
    from fercourse.train.fused_adam import adam

    _, keras = import_tensorflow()
    with policy_scope(policy):
        model = light_vgg(classes, **kwargs)
    if not train_dense:
        for layer in model.layers:
            layer.trainable = not isinstance(layer, keras.layers.Dense)
    model.compile((optimizer or adam)(3e-4), "sparse_categorical_crossentropy")
    return model


def step_rate(model, batch_size: int, steps: int = 20, repeats: int = 5) -> float:
    """Images/s of ``model``'s compiled training step alone: one batch held in memory, the best
    of ``repeats`` runs of ``steps`` steps (no input pipeline, no augmentation, no callbacks)."""
    x, y = _one_batch(model, batch_size)
    return batch_size / best_seconds_per_call(lambda: model.train_on_batch(x, y), steps, repeats, warmup=3)


def variant_steps(batch: int = 8, policy: str | None = None) -> str:
    """Training-step time of the light VGG's forms, with the parts fercourse replaced and with
    the plain Keras/TensorFlow versions they replace: the optimizer (Keras' Adam vs the fused
    one), batch norm (Keras' layer vs the fused kernel) and the anti-aliased pooling's blur
    (depthwise convolution vs average pools). Batch 8 is the recipe's."""
    from unittest import mock

    from fercourse.env import import_tensorflow
    from fercourse.models import batch_norm, blurpool
    from fercourse.theory import equivariance
    from fercourse.train import choose_policy
    from fercourse.train.fused_adam import adam

    tf, keras = import_tensorflow()
    policy = policy or choose_policy()[0]

    class DepthwiseBlur(blurpool.BlurPool2D):  # the blur as a 2-D depthwise convolution
        def call(self, x):
            size = self.filter_size
            kernel = np.repeat(equivariance.binomial_filter(size)[:, :, None, None], x.shape[-1], axis=2)
            pad = (size - 1) // 2, size // 2
            x = tf.pad(x, [[0, 0], pad, pad, [0, 0]], mode="REFLECT")
            return tf.nn.depthwise_conv2d(x, tf.cast(kernel, x.dtype), [1, self.strides, self.strides, 1], "VALID")

    def keras_bn(**kwargs):
        return keras.layers.BatchNormalization(**kwargs)

    forms = [("plain: Keras' Adam", {}, None, keras.optimizers.Adam),
             ("plain: fused Adam (ours)", {}, None, adam),
             ("batch norm: Keras' layer", {"batch_norm": True, "dropout": 0.5},
              mock.patch.object(batch_norm, "fused_batch_normalization", keras_bn), adam),
             ("batch norm: fused (ours)", {"batch_norm": True, "dropout": 0.5}, None, adam),
             ("anti-aliased: depthwise blur", {"anti_alias": True},
              mock.patch.object(blurpool, "BlurPool2D", DepthwiseBlur), adam),
             ("anti-aliased: average pools (ours)", {"anti_alias": True}, None, adam)]
    lines = [f"training step of each form (batch {batch}, {policy}, one batch in memory, best of 5 x 20 steps):"]
    for label, kwargs, patch, optimizer in forms:
        with patch or contextlib.nullcontext():
            model = _step_model(policy, optimizer, **kwargs)
        rate = step_rate(model, batch)
        lines.append(f"  {label:36s} {1000 * batch / rate:6.1f} ms a step  ({rate:.0f} images/s)")
    return "\n".join(lines)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_settings_table(batch: int = 8, policies: tuple[str, ...] = ("float32",), steps: int = 20,
                          repeats: int = 5, rounds: int = 2):
    """Images/s of the training step alone (as :func:`step_rate`) under TensorFlow's thread
    settings: its default, one op at a time on every core (inter-op 1), one core per op with
    ops side by side (intra-op 1), and one core. Returns a DataFrame, one row per setting.

    Each setting runs in a fresh process (TensorFlow fixes its thread pools when it starts);
    the settings take turns ``rounds`` times and each keeps its best, so that a busy moment of
    the machine does not decide the comparison."""
    import json
    import subprocess

    import pandas as pd

    cores = _cores()
    settings = [("TensorFlow's default", 0, 0), (f"one op at a time, each on {cores} cores", 1, cores),
                (f"{cores} ops side by side, one core each", cores, 1), ("one core", 1, 1)]
    if cores == 1:  # the middle two would be "one core" again
        settings = [settings[0], settings[-1]]
    best: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for label, inter, intra in settings:
            code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
                    f"import bench_training as b; b._thread_worker({inter}, {intra}, {batch}, "
                    f"{list(policies)!r}, {steps}, {repeats})")
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
            if done.returncode:
                raise RuntimeError(f"thread setting {label!r} failed:\n{done.stderr[-2000:]}")
            report = json.loads(done.stdout.strip().splitlines()[-1])
            if report["threads"] != [inter, intra]:
                raise RuntimeError(f"thread setting {label!r}: TensorFlow ran with {report['threads']}")
            rates = report["rates"]
            best[label] = {k: max(v, best.get(label, {}).get(k, 0.0)) for k, v in rates.items()}
    rows = []
    for label, inter, intra in settings:
        row = {"setting": label, "inter-op": inter or "default", "intra-op": intra or "default"}
        for policy in policies:
            rate = best[label][policy]
            row[f"{policy} images/s"] = rate
            row[f"{policy} vs default"] = rate / best[settings[0][0]][policy]
        rows.append(row)
    return pd.DataFrame(rows).set_index("setting")


def _thread_worker(inter: int, intra: int, batch: int, policies: list[str], steps: int, repeats: int) -> None:
    """In a fresh process: set the thread pools before TensorFlow starts, then print the step's
    images/s for each policy as one JSON line (read by :func:`thread_settings_table`)."""
    import json

    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(inter)
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    rates = {policy: step_rate(_step_model(policy), batch, steps, repeats) for policy in policies}
    # read back: proof that the pools were set before TensorFlow started, not ignored
    threads = [tf.config.threading.get_inter_op_parallelism_threads(),
               tf.config.threading.get_intra_op_parallelism_threads()]
    print(json.dumps({"rates": rates, "threads": threads}))


def thread_settings(batch: int = 8, policy: str = "float32", steps: int = 20, repeats: int = 5,
                    rounds: int = 2, float32: bool = True) -> str:
    """:func:`thread_settings_table` as text, in the policy and (with ``float32``, when it
    differs) float32, with what all the cores buy over one."""
    policies = tuple(dict.fromkeys([policy, "float32"] if float32 else [policy]))
    table = thread_settings_table(batch, policies, steps, repeats, rounds)
    one, default = table.index[-1], table.index[0]
    scaling = ", ".join(f"{table.loc[default, f'{p} images/s'] / table.loc[one, f'{p} images/s']:.2f}x in {p}"
                        for p in policies)
    fastest = {p: table[f"{p} images/s"].idxmax() for p in policies}
    verdict = "; ".join(f"fastest in {p}: {fastest[p]} ({table.loc[fastest[p], f'{p} vs default']:.2f}x)"
                        for p in policies)
    return (f"thread settings (training step alone, batch {batch}, one batch in memory; each setting in its own "
            f"process, best of {rounds}):\n{table.round(2).to_string()}\n"
            f"{_cores()} cores against one: {scaling}; {verdict}. fercourse sets no thread counts: "
            f"it keeps TensorFlow's default")


def throughput(images: int = 320, repeats: int = 5, steps: int = 20,
               every_batch: bool = True) -> tuple[list[Result], dict]:
    """(epoch times of baseline vs ours, facts for the efficiency row; the step alone at the
    recipe's batch, and with ``every_batch`` at 16 and 32 too)."""
    from fercourse.augment import augmentation_layers
    from fercourse.data import load_dataset
    from fercourse.data.pipeline import as_tf_dataset
    from fercourse.env import import_tensorflow
    from fercourse.models import light_vgg
    from fercourse import recipes
    from fercourse.train import choose_policy, policy_scope
    from fercourse.train.fit import steps_per_execution
    from fercourse.train.fused_adam import adam

    tf, keras = import_tensorflow()
    data = load_dataset(log=lambda *a: None)
    train = data["train"]
    pick = np.random.default_rng(0).permutation(len(train))[:images]
    files = [train.files[i] for i in sorted(pick)]
    tree = _subset_tree(data.root.path, files, Path(tempfile.mkdtemp(prefix="bench-tree-")) / "Train")

    keras.utils.set_random_seed(0)
    plain_ds = keras.utils.image_dataset_from_directory(tree, image_size=(128, 128), batch_size=32, seed=0,
                                                        verbose=False)
    plain_aug = keras.Sequential([keras.layers.Rescaling(1 / 255), keras.layers.RandomFlip("horizontal"),
                                  keras.layers.RandomRotation(0.05)])
    plain_ds = plain_ds.map(lambda x, y: (plain_aug(x, training=True), y))
    with policy_scope("float32"):
        plain_model = light_vgg(len(data.classes))
    plain_model.compile(keras.optimizers.Adam(3e-4), "sparse_categorical_crossentropy")

    from fercourse.data import ImageSplit

    subset = ImageSplit("train", train.source, files, train.labels[np.sort(pick)], np.asarray(train.images)[np.sort(pick)])
    config = recipes.LIGHT_VGG_QUICK
    policy = choose_policy()[0]
    ours_ds = as_tf_dataset(subset, batch_size=config.batch_size, shuffle=True, seed=0,
                            augment=augmentation_layers(config.seed))
    with policy_scope(policy):
        ours_model = light_vgg(len(data.classes))
    per_call = steps_per_execution(int(ours_ds.cardinality()))  # as fercourse.train.train compiles
    ours_model.compile(adam(config.learning_rate), "sparse_categorical_crossentropy", steps_per_execution=per_call)

    base, ours = epochs_side_by_side(plain_model, plain_ds, ours_model, ours_ds, repeats)
    results = [Result("training throughput (light VGG)", "image_dataset_from_directory + fit, float32, batch 32",
                      f"load_dataset + as_tf_dataset, {policy}, batch {config.batch_size}", base, ours,
                      work=f"one epoch of {images} images", note=_throughput_note(images, base, ours))]
    if policy != "float32":  # what the pipeline alone buys, as on a CPU without native bfloat16
        with policy_scope("float32"):
            f32_model = light_vgg(len(data.classes))
        f32_model.compile(adam(config.learning_rate), "sparse_categorical_crossentropy",
                          steps_per_execution=per_call)
        base32, ours32 = epochs_side_by_side(plain_model, plain_ds, f32_model, ours_ds, repeats)
        results.append(Result("training throughput, both float32", results[0].baseline,
                              f"load_dataset + as_tf_dataset, float32, batch {config.batch_size}", base32, ours32,
                              work=f"one epoch of {images} images",
                              note=_throughput_note(images, base32, ours32)))
    batches = _batches(config.batch_size) if every_batch else [config.batch_size]
    facts = {"policy": policy, "images_per_s": images / float(np.median(ours)), "model": ours_model,
             "batch": config.batch_size, "baseline_images_per_s": images / float(np.median(base)),
             "baseline_all_images_per_s": len(base) * images / sum(base),
             "step_images_per_s": {b: step_rate(ours_model, b, steps) for b in batches},
             "kernels_ms": kernel_ms(ours_model, config.batch_size, steps),
             "dense": dense_share(ours_model, config.batch_size, steps)}
    if policy != "float32":
        facts["float32_images_per_s"] = images / float(np.median(ours32))
        facts["float32_baseline_images_per_s"] = images / float(np.median(base32))
        facts["float32_baseline_all_images_per_s"] = len(base32) * images / sum(base32)
        facts["float32_step_images_per_s"] = {b: step_rate(f32_model, b, steps) for b in batches}
        facts["float32_kernels_ms"] = kernel_ms(f32_model, config.batch_size, steps)
        facts["float32_dense"] = dense_share(f32_model, config.batch_size, steps)
    return results, facts


def kernel_ms(model, batch: int, steps: int = 20, repeats: int = 5) -> float:
    """Milliseconds a batch of ``batch`` images spends in the training step's convolution
    kernels when each is timed alone, one at a time (``bench_conv_kernels.kernel_times``, in the
    dtype ``model`` computes in): every convolution's forward and weight gradient, and the input
    gradient of every convolution but the first (the image needs none).

    Why: nearly all of the step's FLOPs are in these kernels, so ``batch`` / this time is about
    the most images/s any step made of them, run one after another, can reach; the rest of the
    step (dense layers, pooling and ReLU gradients, the optimizer) only adds to it. Where this
    bound sits below a goal, the goal needs faster convolution kernels, not a better pipeline.
    """
    import bench_conv_kernels

    from fercourse.env import import_tensorflow

    _, keras = import_tensorflow()
    dtype = next(layer.compute_dtype for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    table = bench_conv_kernels.kernel_times(batch, dtype, bench_conv_kernels.convolutions_of(model), steps, repeats)
    return float(table["forward ms"].sum() + table["weight grad ms"].sum() + table["input grad ms"].iloc[1:].sum())


def dense_share(model, batch: int, steps: int = 20, repeats: int = 5) -> dict[str, float]:
    """What training the dense layers adds to a step of ``model`` at ``batch`` (ms), and why.

    ``model``: a compiled plain light VGG. ``step_ms``: its step on one batch held in memory.
    ``frozen_ms``: a plain light VGG in the same dtype with its dense layers frozen (no weight
    gradients, no update for them); the two are timed in turns, best of ``repeats`` each.
    ``adam_ms``: the fused Adam update of the dense weights alone (a copy of them, random
    gradients), ``adam_gb_s`` the bytes it moves per second (each weight, its two moments read
    and written and its gradient read: 28 bytes a float32 weight) and ``add_gb_s`` those of an
    element-wise add of two arrays of as many floats (12 bytes each), the memory's pace here.

    Why: the light VGG's dense layers hold 3.2 of its 3.7 million weights and do about 1 % of
    its FLOPs. With batches of 8 their update is paid every 8 images, and it is bound by memory,
    not arithmetic; when ``adam_gb_s`` is near ``add_gb_s`` no rewrite of the update can make it
    cheaper, short of moving fewer bytes (a different optimizer or precision).
    """
    from fercourse.env import import_tensorflow
    from fercourse.train.fused_adam import adam

    tf, keras = import_tensorflow()
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    frozen = _step_model(model.dtype_policy.name, classes=model.output_shape[-1], train_dense=False)
    optimizer = adam(3e-4)
    weights = [keras.Variable(w.numpy()) for layer in dense for w in layer.trainable_weights]
    optimizer.build(weights)
    rng = np.random.default_rng(0)
    grads = [tf.constant(rng.normal(size=w.shape).astype("float32")) for w in weights]
    update = tf.function(lambda: optimizer.apply(grads, weights))
    count = sum(int(np.prod(w.shape)) for w in weights)
    a, b = (tf.constant(rng.normal(size=count).astype("float32")) for _ in range(2))
    add = tf.function(lambda: a + b)
    adam_s = best_seconds_per_call(update, steps, repeats, sync=lambda _: weights[0].numpy())
    add_s = best_seconds_per_call(add, steps, repeats, sync=lambda result: result.numpy())

    def steps_of(net):
        x, y = _one_batch(net, batch)
        return lambda: [net.train_on_batch(x, y) for _ in range(steps)]

    # the two steps take turns, each keeping its best: a busy moment of the machine then slows
    # a round of both instead of deciding the difference (it is a tenth of the step)
    runs, frozen_runs = side_by_side(steps_of(model), steps_of(frozen), repeats)
    return {"step_ms": 1000 * min(runs) / steps, "frozen_ms": 1000 * min(frozen_runs) / steps,
            "adam_ms": 1000 * adam_s, "adam_gb_s": 28 * count / adam_s / 1e9,
            "add_gb_s": 12 * count / add_s / 1e9, "dense_weights": count}


def _throughput_note(images: int, base: list[float], ours: list[float]) -> str:
    """Images/s of each by the median epoch, and by all timed epochs together (what a whole
    training run sees). The baseline's epoch times are bimodal - a new iterator every epoch,
    and the first step of some epochs stalls for seconds - so with a handful of epochs the
    median lands on either mode; the count of stalled epochs (> 1.3x its fastest) says which,
    and the ratio against its unstalled epochs alone is what remains without the stalls."""
    smooth = [t for t in base if t <= 1.3 * min(base)]
    total = (len(ours) * images / sum(ours), len(base) * images / sum(base))
    return (f"{images / np.median(ours):.1f} vs {images / np.median(base):.1f} images/s by the median epoch; "
            f"all timed epochs {total[0]:.1f} vs {total[1]:.1f} images/s = {total[0] / total[1]:.2f}x; "
            f"baseline epochs stalled: {len(base) - len(smooth)} of {len(base)}; against its unstalled "
            f"epochs {images / np.median(smooth):.1f} images/s = {np.median(smooth) / np.median(ours):.2f}x")


def _batches(recipe_batch: int) -> list[int]:
    """The recipe's batch first, then 16 and 32: the step's efficiency depends on the batch (a
    kernel call on 8 images does half the work of one on 16 for the same fixed costs)."""
    return list(dict.fromkeys([recipe_batch, 16, 32]))


def equal_budget() -> Result:
    """Validation accuracy and wall time of each pipeline trained to the recipe's budget."""
    from fercourse.data import load_dataset
    from fercourse.data.pipeline import as_tf_dataset
    from fercourse.env import import_tensorflow
    from fercourse.evaluate import predict_proba
    from fercourse.models import light_vgg
    from fercourse import recipes
    from fercourse.train import ModelStore, policy_scope

    tf, keras = import_tensorflow()
    data = load_dataset(log=lambda *a: None)
    config = recipes.LIGHT_VGG_QUICK
    root = Path(data.root.path)

    keras.utils.set_random_seed(0)
    train_ds = keras.utils.image_dataset_from_directory(root / "Train", image_size=(128, 128), batch_size=32,
                                                        seed=0, verbose=False)
    val_ds = keras.utils.image_dataset_from_directory(root / "Validation", image_size=(128, 128), batch_size=64,
                                                      shuffle=False, verbose=False)
    rescale = keras.layers.Rescaling(1 / 255)
    plain_aug = keras.Sequential([rescale, keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.05)])
    with policy_scope("float32"):
        plain = light_vgg(len(data.classes))
    plain.compile(keras.optimizers.Adam(config.learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    plain.fit(train_ds.map(lambda x, y: (plain_aug(x, training=True), y)), epochs=config.epochs, verbose=0)
    base_s = time.perf_counter() - start
    base_acc = plain.evaluate(val_ds.map(lambda x, y: (rescale(x), y)), verbose=0)[1]

    with tempfile.TemporaryDirectory(prefix="bench-store-") as store:
        start = time.perf_counter()
        run = recipes.train_light_vgg(data, config, store=ModelStore(Path(store)), force=True, verbose=0)
        ours_s = time.perf_counter() - start
    y, proba = predict_proba(run.model, as_tf_dataset(data["validation"], batch_size=64))
    ours_acc = float(np.mean(proba.argmax(1) == y))
    return Result("training to the recipe's budget (light VGG, plain)",
                  f"image_dataset_from_directory + fit, float32, batch 32, {config.epochs} epochs",
                  f"train_light_vgg: {run.policy}, batch {config.batch_size}, early stopping", [base_s], [ours_s],
                  work=f"built-in set, {len(data['train'])} training images",
                  note=f"validation accuracy {ours_acc:.3f} vs {base_acc:.3f}; epochs {len(run.history)} vs "
                       f"{config.epochs}")


def augmentation(images: int = 640, repeats: int = 3) -> Result:
    """Images/s of the chapter's augmentation vs the same ranges as Keras' separate layers."""
    from fercourse.augment import DEFAULTS, augmentation_layers
    from fercourse.env import import_tensorflow

    tf, keras = import_tensorflow()
    layers, cfg = keras.layers, DEFAULTS
    chain = keras.Sequential([
        layers.RandomFlip("horizontal", seed=0),
        layers.RandomRotation(cfg["rotation"], fill_mode="reflect", seed=1),
        layers.RandomZoom(cfg["zoom"], fill_mode="reflect", seed=2),
        layers.RandomTranslation(cfg["translation"], cfg["translation"], fill_mode="reflect", seed=3),
        layers.RandomContrast(cfg["contrast"], value_range=(0.0, 1.0), seed=4),
        layers.RandomBrightness(cfg["brightness"], value_range=(0.0, 1.0), seed=5)])
    fused = augmentation_layers(0)
    x = np.random.default_rng(0).uniform(0, 1, (images, 128, 128, 3)).astype("float32")

    def epoch(augment):
        ds = (tf.data.Dataset.from_tensor_slices(x).batch(16)
              .map(lambda b: augment(b, training=True), num_parallel_calls=tf.data.AUTOTUNE).prefetch(2))
        return lambda: [None for _ in ds]

    base_epoch, ours_epoch = epoch(chain), epoch(fused)
    base, ours = side_by_side(base_epoch, ours_epoch, repeats)
    return Result("augmentation alone", "Keras flip, rotation, zoom, shift layers + contrast, brightness",
                  "one fused warp (RandomFaceWarp) + contrast, brightness", base, ours,
                  work=f"{images} images of 128x128, batches of 16",
                  note=f"{images / np.median(ours):.0f} vs {images / np.median(base):.0f} images/s")


def efficiency(facts: dict) -> str:
    """The training step's achieved FLOP/s as a share of a large matmul's, same dtype (the
    policy's; also float32, the path of CPUs without native bfloat16, when they differ): the
    step alone at the recipe's batch and at 16 and 32, and whole ``fit`` epochs. Then the bound
    that the convolution kernels put on the step's share (:func:`kernel_ms`), and the ceiling
    that the matmul's rate puts on images/s, as a multiple of the baseline's epochs: the most
    any pipeline could gain over it with the same network and arithmetic."""
    dtype = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}.get(facts["policy"], "float32")
    step = 3.0 * sum(layer_flops(facts["model"]).values())
    runs = [(dtype, "")]
    if "float32_images_per_s" in facts:
        runs.append(("float32", "float32_"))
    lines = []
    batch = facts["batch"]
    for name, prefix in runs:
        step_rates, fit_rate = facts[f"{prefix}step_images_per_s"], facts[f"{prefix}images_per_s"]
        base_rate, base_all = facts[f"{prefix}baseline_images_per_s"], facts[f"{prefix}baseline_all_images_per_s"]
        peak = matmul_flops_per_s(name)
        rows = [(f"training step (batch {b} in memory{', the recipe' if b == batch else ''})", rate)
                for b, rate in step_rates.items()]
        for what, rate in (*rows, (f"fit epochs (batch {batch}, pipeline and augmentation)", fit_rate)):
            achieved = step * rate
            lines.append(f"compute efficiency, {name}, {what}: {step / 1e9:.2f} GFLOP per training image "
                         f"(forward x 3), {rate:.1f} images/s = {achieved / 1e9:.1f} GFLOP/s; a 2048x2048 "
                         f"{name} matmul reaches {peak / 1e9:.1f} GFLOP/s here: {achieved / peak:.0%} of it")
        kernels_ms = facts[f"{prefix}kernels_ms"]
        bound = step * batch / (kernels_ms / 1000) / peak
        lines.append(f"bound, {name}, batch {batch}: the step's convolution kernels timed alone, one at a time, "
                     f"take {kernels_ms:.1f} ms a batch ({1000 * batch / kernels_ms:.0f} images/s): {bound:.0%} "
                     f"of the matmul for the step's FLOPs, with nothing else in the step; the step reaches "
                     f"{step * step_rates[batch] / peak / bound:.0%} of that bound")
        dense = facts[f"{prefix}dense"]
        floor_ms = kernels_ms + dense["adam_ms"]
        lines.append(f"dense layers, {name}, batch {batch}: timed in turns, the step takes {dense['step_ms']:.1f} "
                     f"ms, {dense['frozen_ms']:.1f} ms with its dense layers frozen: training their "
                     f"{dense['dense_weights'] / 1e6:.2f} M weights costs {dense['step_ms'] - dense['frozen_ms']:.1f} ms "
                     f"a step, of which the fused Adam update alone {dense['adam_ms']:.1f} ms, moving "
                     f"{dense['adam_gb_s']:.0f} GB/s, {dense['adam_gb_s'] / dense['add_gb_s']:.2f}x what an element-wise "
                     f"add moves here ({dense['add_gb_s']:.0f} GB/s, the memory's pace). The convolution kernels "
                     f"alone and that update, one after the other: "
                     f"{floor_ms:.1f} ms a batch = {step * batch / (floor_ms / 1000) / peak:.0%} of the matmul")
        ceiling = peak / step
        lines.append(f"ceiling, {name}: at the matmul's rate a training image would take {1000 / ceiling:.1f} ms, "
                     f"{ceiling:.0f} images/s = {ceiling / base_rate:.2f}x the baseline's median epoch "
                     f"({base_rate:.1f} images/s, {step * base_rate / peak:.0%} of the matmul), "
                     f"{ceiling / base_all:.2f}x its epochs all together ({base_all:.1f} images/s)")
    return "\n".join(lines)


def profile(batch: int = 16, repeats: int = 5, policy: str = "float32"):
    """Each Conv2D / Dense / pooling layer alone: forward + backward seconds per batch, and its
    share of the step's time next to its share of the FLOPs. Returns a DataFrame."""
    import pandas as pd

    from fercourse.env import import_tensorflow
    from fercourse.models import light_vgg
    from fercourse.train import policy_scope

    tf, keras = import_tensorflow()
    with policy_scope(policy):
        model = light_vgg(8)
    flops = layer_flops(model)
    rows = []
    for layer in model.layers[1:]:
        shape = (batch, *layer.input.shape[1:])
        x = tf.random.uniform(shape, dtype=tf.float32)
        x = tf.cast(x, layer.compute_dtype)

        @tf.function
        def step(inputs, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                out = layer(inputs, training=True)
                loss = tf.reduce_sum(tf.cast(out, tf.float32))
            return tape.gradient(loss, [inputs, *layer.trainable_weights])

        step(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            tf.nest.map_structure(lambda t: t.numpy() if t is not None else None, step(x))
            times.append(time.perf_counter() - start)
        rows.append({"layer": layer.name, "input": "x".join(map(str, shape[1:])),
                     "ms / batch": 1000 * float(np.median(times)), "GFLOP / batch": 3 * flops.get(layer.name, 0.0) * batch / 1e9})
    table = pd.DataFrame(rows).set_index("layer")
    table["time share"] = table["ms / batch"] / table["ms / batch"].sum()
    table["FLOP share"] = table["GFLOP / batch"] / table["GFLOP / batch"].sum()
    table["GFLOP/s"] = table["GFLOP / batch"] / (table["ms / batch"] / 1000)
    return table


KINDS = ("forward", "weight grad", "input grad", "other grad")


def kernel_profile(batch: int = 16, steps: int = 10, policy: str = "float32"):
    """The whole training step under TensorFlow's profiler: per layer, the milliseconds a step of
    its forward kernel, its weight-gradient kernel and its input-gradient kernel took, next to
    its share of the FLOPs. Unlike :func:`profile`, the layers run in the real step (the first
    convolution computes no input gradient; the graph may run two kernels at once, each on both
    cores, so the kernel times add up to more than the step). Returns (table, step ms), or
    (None, reason) where this TensorFlow has no trace reader."""
    import collections
    import re

    import pandas as pd

    from fercourse.env import import_tensorflow

    tf, _ = import_tensorflow()
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError as error:
        return None, f"no profiler trace reader in this TensorFlow ({error})"
    model = _step_model(policy)
    step_ms = batch / step_rate(model, batch, steps=steps, repeats=3) * 1000
    x, y = _one_batch(model, batch)
    space = xplane_pb2.XSpace()
    with tempfile.TemporaryDirectory(prefix="fercourse-trace-") as folder:
        tf.profiler.experimental.start(folder)
        for _ in range(steps):
            model.train_on_batch(x, y)
        tf.profiler.experimental.stop()
        space.ParseFromString(next(Path(folder).rglob("*.xplane.pb")).read_bytes())
    names = "|".join(re.escape(layer.name) for layer in model.layers)
    pattern = re.compile(rf"(?:^|/)({names})(?:_\d+)?/")
    ms = collections.defaultdict(float)
    for plane in space.planes:
        meta = {key: value.name for key, value in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = meta.get(event.metadata_id, "")
                found = pattern.search(name.split(":")[0]) if ":" in name else None
                if not found:
                    continue
                kind = ("forward" if "gradient_tape" not in name else
                        "weight grad" if any(k in name for k in ("BackpropFilter", "MatMul_1", "BiasAddGrad")) else
                        "input grad" if any(k in name for k in ("BackpropInput", "MatMul")) else
                        "other grad")  # ReLU and pooling gradients
                ms[found.group(1), kind] += event.duration_ps / 1e9 / steps
    flops = layer_flops(model)
    rows = [{"layer": layer.name, **{k: ms.get((layer.name, k), 0.0) for k in KINDS},
             "FLOP share": flops.get(layer.name, 0.0) / sum(flops.values())}
            for layer in model.layers if any((layer.name, k) in ms for k in KINDS)]
    table = pd.DataFrame(rows).set_index("layer")
    table["kernel ms"] = table[list(KINDS)].sum(axis=1)
    table["time share"] = table["kernel ms"] / table["kernel ms"].sum()
    table["backward / forward"] = table[list(KINDS[1:])].sum(axis=1) / table["forward"].where(table["forward"] > 0)
    return table, step_ms


def run(quick: bool = False) -> tuple[list[Result], list[str]]:
    results, facts = throughput(images=32 if quick else 320, repeats=1 if quick else 5, steps=2 if quick else 20,
                                every_batch=not quick)
    results.append(augmentation(images=32 if quick else 640, repeats=1 if quick else 3))
    if not quick:
        results.append(equal_budget())
    lines = [efficiency(facts)]
    if quick:  # one process per setting even so: ~10 s each
        lines.append(thread_settings(facts["batch"], facts["policy"], steps=2, repeats=1, rounds=1, float32=False))
    else:
        lines.append(variant_steps(facts["batch"], policy=facts["policy"]))
        lines.append(thread_settings(facts["batch"], policy=facts["policy"]))
        table = profile(policy=facts["policy"])
        lines.append("per-layer profile (forward + backward, batch 16, each layer alone, "
                     f"{facts['policy']}):\n" + table.round(3).to_string())
        lines.append(kernel_lines(facts["policy"], facts["batch"]))
    return results, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("FERCOURSE_CACHE", tempfile.mkdtemp(prefix="fercourse-bench-"))
    results, facts = throughput(args.images, args.repeats)
    for result in [*results, augmentation(repeats=args.repeats)]:
        for key, value in result.row().items():
            print(f"{key:12s} {value}")
    print(efficiency(facts))
    print(variant_steps(facts["batch"], policy=facts["policy"]))
    print(thread_settings(facts["batch"], policy=facts["policy"]))
    print(profile(policy=facts["policy"]).round(3).to_string())
    print(kernel_lines(facts["policy"], facts["batch"]))


def kernel_lines(policy: str, batch: int = 16) -> str:
    """:func:`kernel_profile` as text, in the policy's dtype and, when that is not float32, in
    float32 too (the path of CPUs without native bfloat16)."""
    parts = []
    for name in dict.fromkeys([policy, "float32"]):
        table, step_ms = kernel_profile(batch, policy=name)
        if table is None:
            return f"kernel profile: {step_ms}"
        forward, backward = table["forward"].sum(), table[list(KINDS[1:])].sum().sum()
        parts.append(f"kernels of one training step (batch {batch}, {name}; TensorFlow profiler, ms per step; "
                     f"the step took {step_ms:.1f} ms):\n" + table.round(3).to_string()
                     + f"\nall layers: forward {forward:.1f} ms, backward {backward:.1f} ms "
                     f"({backward / forward:.1f}x the forward; the FLOPs say 2x)")
    return "\n\n".join(parts)


if __name__ == "__main__":
    main()
