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
