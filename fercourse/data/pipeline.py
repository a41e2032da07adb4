"""tf.data pipelines over a decoded split: shuffle, batch, scale to [0, 1], augment, prefetch.

The images are already decoded, resized and cached as uint8 by ``load_dataset``; the
pipeline keeps them as uint8 until after batching (4x less memory traffic) and scales
whole batches. Augmentation layers run on batches, inside the pipeline, so the model
never sees them at inference time. Splits larger than ``rows.stream_bytes()`` are read
from the cache file batch by batch instead of being copied into the pipeline.
"""
from __future__ import annotations

from .splits import ImageSplit
from .rows import RowReader, should_stream


def as_tf_dataset(split: ImageSplit, *, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                  augment=None, target: str = "class", drop_remainder: bool = False):
    """A ``tf.data.Dataset`` of (images (B, S, S, 3) float32 in [0, 1], targets).

    ``target``: ``"class"`` -> int32 labels (B,); ``"valence_arousal"`` -> float32 (B, 2)
    (samples without valence/arousal are left out). ``augment``: a callable on image
    batches (e.g. ``fercourse.augment.augmentation_layers()``), applied with training=True.
    """
    import numpy as np

    from ..env import import_tensorflow

    tf, _ = import_tensorflow()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    positions = np.arange(len(split))
    if target == "class":
        targets = np.asarray(split.labels, dtype=np.int32)
    elif target == "valence_arousal":
        positions, targets = split.labelled_valence_arousal()
    else:
        raise ValueError(f"target must be 'class' or 'valence_arousal', got {target!r}")
    if should_stream(split.images):
        ds = _streamed(tf, split.images, positions, targets, batch_size, shuffle, seed, drop_remainder)
    else:
        images = np.asarray(split.images)[positions] if len(positions) < len(split) else np.asarray(split.images)
        ds = tf.data.Dataset.from_tensor_slices((images, targets))
        if shuffle:
            ds = ds.shuffle(len(targets), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _streamed(tf, images, positions, targets, batch_size, shuffle, seed, drop_remainder):
    """Batches read from the cache file on demand: only indices live in the pipeline."""
    import numpy as np

    reader = RowReader(images)

    def load(order):
        order = np.sort(order)  # ascending file offsets read faster; the batch is shuffled anyway
        return reader.read(positions[order]), targets[order]

    ds = tf.data.Dataset.range(len(targets))
    if shuffle:
        ds = ds.shuffle(len(targets), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    target_type = tf.as_dtype(targets.dtype)

    def read(order):
        x, y = tf.numpy_function(load, [order], [tf.as_dtype(reader.dtype), target_type])
        x.set_shape((None, *reader.row_shape))
        y.set_shape((None, *targets.shape[1:]))
        return x, y

    return ds.map(read, num_parallel_calls=tf.data.AUTOTUNE)
