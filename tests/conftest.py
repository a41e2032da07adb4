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
