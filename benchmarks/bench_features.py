"""Cached backbone outputs vs recomputing the frozen part of VGG16 every epoch.

    .venv/bin/python benchmarks/bench_features.py [N_IMAGES]

Phase 1 (head only). Baseline: one epoch of the assembled model (frozen VGG16 + head) on
N images, i.e. a VGG16 forward pass per image per epoch. Cached: one epoch of the head
alone on the stored block-5 features.
Phase 2 (block 5 + head fine-tuned). Baseline: one epoch of the image model with block 5
unfrozen (blocks 1-4 recomputed every epoch). Cached: one epoch of a block 5 + head copy on
the stored block-4 maps. Same batch size throughout. Prints seconds and the ratios.
"""
from __future__ import annotations

import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import Result, side_by_side  # noqa: E402

from fercourse.env import import_tensorflow  # noqa: E402
from fercourse.models.vgg16_transfer import (VGGPreprocess, block5_and_head, trunk, unfreeze_last_block,
                                             vgg16_transfer)


def _epoch_seconds(model, x, y) -> float:
    model.fit(x[:32], y[:32], batch_size=32, epochs=1, verbose=0)  # warm-up: tracing
    start = time.perf_counter()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return time.perf_counter() - start


def _trainable(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def main(n: int = 128) -> None:
    tf, keras = import_tensorflow()
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (n, 128, 128, 3)).astype("float32")
    labels = rng.integers(0, 8, n)
    model, backbone, head, info = vgg16_transfer(8, log=lambda *a: None)
    print(f"weights: {info}")
    print(f"{n} images, 128x128, batch 32, {tf.config.threading.get_intra_op_parallelism_threads() or 'all'}"
          " CPU threads")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    head.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    full = _epoch_seconds(model, images, labels)
    start = time.perf_counter()  # what the caches hold (computed once)
    maps = np.asarray(trunk(backbone).predict(VGGPreprocess()(images), batch_size=32, verbose=0))
    features = np.asarray(model.get_layer(backbone.name).predict(VGGPreprocess()(images), batch_size=32,
                                                                  verbose=0))
    extract = time.perf_counter() - start
    cached = _epoch_seconds(head, features, labels)
    print("phase 1 - head")
    print(f"  epoch with the backbone recomputed: {full:8.3f} s")
    print(f"  epoch on cached block-5 features:   {cached:8.3f} s   ratio {full / cached:7.1f}x per epoch")
    print(f"  one-off extraction (both caches):   {extract:8.3f} s")

    tuned = block5_and_head(backbone, head)
    tuned.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy")
    unfreeze_last_block(backbone)
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy")
    full = _epoch_seconds(model, images, labels)
    cached = _epoch_seconds(tuned, maps, labels)
    print(f"phase 2 - block 5 + head ({_trainable(model):,} trainable in the image model, "
          f"{_trainable(tuned):,} in the copy on cached maps)")
    print(f"  epoch with blocks 1-4 recomputed:   {full:8.3f} s")
    print(f"  epoch on cached block-4 maps:       {cached:8.3f} s   ratio {full / cached:7.1f}x per epoch")


def run(quick: bool = False) -> tuple[list[Result], list[str]]:
    """Both phases side by side: an epoch recomputing the frozen part vs an epoch on the cache."""
    _, keras = import_tensorflow()
    n, repeats = (32, 1) if quick else (128, 3)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (n, 128, 128, 3)).astype("float32")
    labels = rng.integers(0, 8, n)
    model, backbone, head, info = vgg16_transfer(8, log=lambda *a: None)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    head.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    maps = np.asarray(trunk(backbone).predict(VGGPreprocess()(images), batch_size=32, verbose=0))
    features = np.asarray(model.get_layer(backbone.name).predict(VGGPreprocess()(images), batch_size=32, verbose=0))
    epoch = lambda m, x: (lambda: m.fit(x, labels, batch_size=32, epochs=1, verbose=0))  # noqa: E731
    phase1 = Result("VGG16 phase 1 (head)", "frozen VGG16 recomputed every epoch", "cached block-5 features",
                    *side_by_side(epoch(model, images), epoch(head, features), repeats),
                    work=f"one epoch of {n} images", note=f"weights: {info.source}")
    tuned = block5_and_head(backbone, head)
    tuned.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy")
    unfreeze_last_block(backbone)
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy")
    phase2 = Result("VGG16 phase 2 (block 5 + head)", "blocks 1-4 recomputed every epoch", "cached block-4 maps",
                    *side_by_side(epoch(model, images), epoch(tuned, maps), repeats),
                    work=f"one epoch of {n} images")
    return [phase1, phase2], []


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 128)
