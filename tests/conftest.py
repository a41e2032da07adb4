"""Shared test set-up: a private cache folder, and TensorFlow imported once, quietly."""
from __future__ import annotations

import os
import tempfile

import pytest

# Before anything imports fercourse: tests never touch the user's real cache.
os.environ.setdefault("FERCOURSE_CACHE", tempfile.mkdtemp(prefix="fercourse-test-cache-"))


@pytest.fixture(scope="session")
def tf_keras():
    from fercourse.env import import_tensorflow

    return import_tensorflow()


@pytest.fixture(autouse=True)
def _global_policy_reset():
    """Every test starts and ends with Keras' default float32 policy: a test (or recipe) that
    changes the global policy must not decide the dtype of the next test's models."""
    import sys

    yield
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.config.set_dtype_policy("float32")


def says(text: str, *facts: str) -> bool:
    """True when ``text`` states every fact, in this order: each fact is a few words (numbers,
    names, a verdict) that must appear in the same sentence, in order, with anything in between.
    Tests of generated prose check *what* it says - the numbers, the ranking, the verdict - not
    its wording, which may change freely."""
    import re

    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", text)
    position = (0, 0)  # (sentence, character) of the last fact found
    for fact in facts:
        pattern = ".*?".join(r"(?<![\w.])" + re.escape(w) + r"(?!\w)" for w in fact.split())
        found = None
        for s in range(position[0], len(sentences)):
            start = position[1] if s == position[0] else 0
            match = re.compile(pattern).search(sentences[s], start)
            if match:
                found = (s, match.end())
                break
        if found is None:
            return False
        position = found
    return True


def class_tree(root, per_split: dict, size: int = 64, cue: str = "block", name: str = "{i}.png"):
    """A tiny data tree under ``root``: per split (``{"Train": 3, "Validation": 1}``; a count or
    the range of image numbers), one seeded noisy ``size`` px PNG per number and AffectNet class,
    named ``name.format(i=number, cls=class)``. Each class has its own cue: a bright block at its
    own place (``"block"``; the light VGG's per-image standardisation keeps it) or its own
    brightness (``"level"``). Returns ``root``."""
    import numpy as np
    from PIL import Image

    from fercourse.classes import AFFECTNET_CLASSES

    rng = np.random.default_rng(0)
    for split, numbers in per_split.items():
        for ci, cls in enumerate(AFFECTNET_CLASSES):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in (range(numbers) if isinstance(numbers, int) else numbers):
                pixels = rng.integers(0, 60, (size, size, 3))
                if cue == "block":
                    row, col = divmod(ci, 4)
                    pixels[8 + 24 * row:24 + 24 * row, 2 + 16 * col:14 + 16 * col] += 180
                else:
                    pixels += ci * 25
                Image.fromarray(pixels.astype("uint8")).save(root / split / cls / name.format(i=i, cls=cls))
    return root
