"""Cached frozen-backbone features vs recomputing the backbone every epoch (VGG16 head training).

    .venv/bin/python benchmarks/bench_features.py [N_IMAGES]

Baseline: one epoch of the assembled model (frozen VGG16 + head) on N images, i.e. a VGG16
forward pass per image per epoch. Cached: one epoch of the head alone on the stored
features. Both train the same head with the same batch size. Prints seconds and the ratio.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from fercourse.env import import_tensorflow
from fercourse.models.vgg16_transfer import vgg16_transfer


def main(n: int = 128) -> None:
    tf, keras = import_tensorflow()
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (n, 128, 128, 3)).astype("float32")
    labels = rng.integers(0, 8, n)
    model, backbone, head, info = vgg16_transfer(8, log=lambda *a: None)
    print(f"weights: {info}")
    model.compile("adam", "sparse_categorical_crossentropy")
    head.compile("adam", "sparse_categorical_crossentropy")
    model.fit(images[:32], labels[:32], batch_size=32, epochs=1, verbose=0)  # warm-up
    start = time.perf_counter()
    model.fit(images, labels, batch_size=32, epochs=1, verbose=0)
    full = time.perf_counter() - start
    start = time.perf_counter()
    features = np.asarray(model.get_layer(backbone.name)(  # what the cache holds (computed once)
        keras.applications.vgg16.preprocess_input(images * 255.0), training=False))
    extract = time.perf_counter() - start
    head.fit(features[:32], labels[:32], batch_size=32, epochs=1, verbose=0)  # warm-up
    start = time.perf_counter()
    head.fit(features, labels, batch_size=32, epochs=1, verbose=0)
    cached = time.perf_counter() - start
    print(f"{n} images, 128x128, batch 32, 2-core CPU")
    print(f"epoch with the backbone recomputed: {full:8.3f} s")
    print(f"one-off feature extraction:         {extract:8.3f} s")
    print(f"epoch on cached features:           {cached:8.3f} s   ratio {full / cached:7.1f}x per epoch")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 128)
