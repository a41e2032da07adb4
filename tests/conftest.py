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
