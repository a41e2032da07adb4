"""A small experiment on what translation equivariance buys: learning a pattern at some
positions and recognising it at others.

Two 5x5 patterns, a plus and a cross, are drawn on a 32x32 noisy canvas. The training set puts
them only in the left half, the test set only in the right half. A convolutional network with
global max pooling shares its weights over positions; a dense network has to learn each
position separately, so what it learned on the left says nothing about the right.
"""
from __future__ import annotations

import numpy as np

PATTERNS = {
    "plus": np.array([[0, 0, 1, 0, 0]] * 2 + [[1, 1, 1, 1, 1]] + [[0, 0, 1, 0, 0]] * 2, np.float32),
    "cross": np.eye(5, dtype=np.float32) + np.eye(5, dtype=np.float32)[::-1],
}


def position_task(n: int, half: str, size: int = 32, seed: int = 0):
    """(images (n, size, size, 1) in [0, 1], labels (n,)): plus = 0, cross = 1, each pattern
    placed at a random position whose columns lie in the ``half`` ("left" or "right")."""
    if half not in ("left", "right"):
        raise ValueError(f"half must be 'left' or 'right', got {half!r}")
    rng = np.random.default_rng(seed)
    images = rng.random((n, size, size, 1), dtype=np.float32) * 0.3
    labels = rng.integers(0, 2, n)
    patterns = list(PATTERNS.values())
    low, high = (0, size // 2 - 5) if half == "left" else (size // 2, size - 5)
    for i in range(n):
        y, x = rng.integers(0, size - 5 + 1), rng.integers(low, high + 1)
        images[i, y:y + 5, x:x + 5, 0] = np.maximum(images[i, y:y + 5, x:x + 5, 0], patterns[labels[i]])
    return images, labels


def position_generalisation(n_train: int = 400, n_test: int = 400, epochs: int = 30, seed: int = 0) -> dict:
    """Train a small CNN (two 3x3 convolutions, global max pooling) and a dense network
    on left-half positions; score both on left (held-out) and right-half positions.

    Returns ``{name: {"parameters", "train accuracy", "left accuracy", "right accuracy"}}``.
    Trained once per settings and numeric policy, then read from the cache (``fercourse.memo``).
    """
    import json

    from .. import memo
    from ..env import import_tensorflow

    _, keras = import_tensorflow()
    settings = {"n_train": n_train, "n_test": n_test, "epochs": epochs, "seed": seed,
                "policy": keras.config.dtype_policy().name, "version": 1}
    data = memo.cached_bytes("position_generalisation", (settings,), lambda: json.dumps(
        _train_and_score(n_train, n_test, epochs, seed)).encode(), suffix=".json")
    return json.loads(data)


def _train_and_score(n_train: int, n_test: int, epochs: int, seed: int) -> dict:
    from .. import reproducible

    with reproducible.scope(seed):  # seeds each model below; the caller's random state comes back
        return _fit_both(n_train, n_test, epochs, seed)


def _fit_both(n_train: int, n_test: int, epochs: int, seed: int) -> dict:
    from ..env import import_tensorflow

    _, keras = import_tensorflow()
    x, y = position_task(n_train, "left", seed=seed)
    x_left, y_left = position_task(n_test, "left", seed=seed + 1)
    x_right, y_right = position_task(n_test, "right", seed=seed + 2)
    layers = keras.layers

    def cnn():
        return keras.Sequential([keras.Input((32, 32, 1)), layers.Conv2D(8, 3, activation="relu"),
                                 layers.Conv2D(8, 3, activation="relu"), layers.GlobalMaxPooling2D(),
                                 layers.Dense(2, activation="softmax")], name="cnn")

    def dense():
        return keras.Sequential([keras.Input((32, 32, 1)), layers.Flatten(), layers.Dense(64, activation="relu"),
                                 layers.Dense(2, activation="softmax")], name="dense")

    results = {}
    for name, build in (("convolutional (shared weights)", cnn), ("dense", dense)):
        keras.utils.set_random_seed(seed)
        model = build()
        model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
        score = lambda a, b: float(model.evaluate(a, b, verbose=0)[1])  # noqa: E731
        results[name] = {"parameters": int(model.count_params()),
                         "train accuracy": float(history.history["accuracy"][-1]),
                         "left accuracy": score(x_left, y_left), "right accuracy": score(x_right, y_right)}
    return results
