"""CAM benchmark: fercourse's batched Grad-CAM vs one image per gradient tape.

    .venv/bin/python benchmarks/bench_cam.py [--images 64] [--repeats 3]

The baseline is the keras.io Grad-CAM recipe written plainly: a two-output model
(last convolution, predictions) and one ``tf.GradientTape`` per image. Both run on the same
light VGG (He-initialised: the time does not depend on what the weights learned) and the
same images, side by side, ``--repeats`` times; prints median and spread of each, their
ratio, and the largest difference between the two methods' maps (they must agree).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Result, side_by_side  # noqa: E402

from fercourse.cam import GradCAM, normalise_maps, upsample  # noqa: E402
from fercourse.env import import_tensorflow  # noqa: E402
from fercourse.models import light_vgg  # noqa: E402


def per_image_grad_cam(model, layer: str, images, classes) -> np.ndarray:
    """The baseline: one tape per image."""
    tf, keras = import_tensorflow()
    grad_model = keras.Model(model.inputs, [model.get_layer(layer).output, model.layers[-1].input])
    kernel, bias = model.layers[-1].kernel, model.layers[-1].bias
    maps = []
    for image, c in zip(images, classes):
        with tf.GradientTape() as tape:
            activations, hidden = grad_model([image[None]], training=False)
            score = (tf.matmul(hidden, kernel) + bias)[0, c]  # the logit, as fercourse uses
        gradients = tape.gradient(score, activations)
        weights = tf.reduce_mean(gradients, axis=(1, 2))
        maps.append(tf.nn.relu(tf.einsum("bhwk,bk->bhw", activations, weights))[0].numpy())
    return normalise_maps(upsample(np.stack(maps), images.shape[1:3]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    _, keras = import_tensorflow()
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    model = light_vgg(8)
    images = np.random.default_rng(0).random((args.images, 128, 128, 3), dtype=np.float32)
    classes = np.arange(args.images) % 8
    cam = GradCAM(model, batch_size=32)
    cam(images[:2], classes=classes[:2])  # warm-up: trace both once
    per_image_grad_cam(model, cam.target_layer, images[:2], classes[:2])
    ours, base = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        maps_ours = cam(images, classes=classes)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        maps_base = per_image_grad_cam(model, cam.target_layer, images, classes)
        base.append(time.perf_counter() - start)

    def show(name, times):
        print(f"{name:34s} median {statistics.median(times):6.2f} s  (min {min(times):.2f}, max {max(times):.2f}) "
              f"= {args.images / statistics.median(times):7.1f} images/s")

    print(f"Grad-CAM of {args.images} images (light VGG, {cam.target_layer}), {args.repeats} repeats")
    show("one tape per image (keras.io)", base)
    show("fercourse, one tape per batch of 32", ours)
    print(f"largest difference between the maps: {np.abs(maps_ours - maps_base).max():.2e}")
    print(f"ratio (baseline / fercourse): {statistics.median(base) / statistics.median(ours):.1f}x")


def run(quick: bool = False) -> tuple[list[Result], list[str]]:
    """Batched Grad-CAM vs one tape per image, same model and images."""
    _, keras = import_tensorflow()
    n, repeats = (8, 1) if quick else (64, 3)
    keras.utils.set_random_seed(0)
    from fercourse.train import policy_scope

    with policy_scope("float32"):
        model = light_vgg(8)
    images = np.random.default_rng(0).random((n, 128, 128, 3), dtype=np.float32)
    classes = np.arange(n) % 8
    cam = GradCAM(model, batch_size=32)
    base, ours = side_by_side(lambda: per_image_grad_cam(model, cam.target_layer, images, classes),
                              lambda: cam(images, classes=classes), repeats)
    gap = np.abs(cam(images, classes=classes) - per_image_grad_cam(model, cam.target_layer, images, classes)).max()
    return [Result("Grad-CAM", "one GradientTape per image (keras.io recipe)", "one tape per batch of 32",
                   base, ours, work=f"{n} images", note=f"maps agree to {gap:.0e}")], []


if __name__ == "__main__":
    main()
