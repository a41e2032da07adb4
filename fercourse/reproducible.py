"""Seeds and TensorFlow's op determinism, set for a scope and given back after it.

Two kinds of caller:

- a library call that must be reproducible (a training recipe, ``train``) runs inside
  :func:`scope`: it may seed and switch op determinism on as it likes, and when it returns the
  caller's Python, NumPy, TensorFlow and Keras random states and determinism setting are as
  they were;
- the calls that are *meant* to make process-wide choices - :func:`fercourse.setup` (a
  chapter's first cell) and the command line - use :func:`determinism_for_process`, and say so.

Nothing here runs at import. ``FERCOURSE_DETERMINISTIC=0`` turns op determinism off everywhere:
same seed, data and machine then no longer give bit-identical weights, for a few percent of speed.
"""
from __future__ import annotations

import contextlib
import functools
import os
import random

DETERMINISTIC_ENV = "FERCOURSE_DETERMINISTIC"


def wanted() -> bool:
    """Op determinism, unless ``FERCOURSE_DETERMINISTIC=0``."""
    return os.environ.get(DETERMINISTIC_ENV, "1") != "0"


def _framework():
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config

    return context, config


def _keras_state():
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    return global_state, (rng_utils.GLOBAL_RANDOM_SEED, seed_generator.GLOBAL_SEED_GENERATOR)


@contextlib.contextmanager
def scope(seed: int | None = None, deterministic: bool | None = None):
    """Inside: op determinism (``deterministic``, default :func:`wanted`) and, with ``seed``,
    every global generator seeded (``keras.utils.set_random_seed``). After: the caller's random
    states (Python, NumPy, TensorFlow's global seed, Keras' global seed and generator) and
    determinism setting, as they were."""
    import keras
    import numpy as np

    from .env import import_tensorflow

    tf, _ = import_tensorflow()
    context, config = _framework()
    global_state, keras_keys = _keras_state()
    saved_python, saved_numpy = random.getstate(), np.random.get_state()
    saved_tf = context.global_seed()
    saved_keras = {key: global_state.get_global_attribute(key) for key in keras_keys}
    was_deterministic = config.is_op_determinism_enabled()
    deterministic = wanted() if deterministic is None else deterministic
    try:
        if deterministic and not was_deterministic:
            config.enable_op_determinism()
        if seed is not None:
            keras.utils.set_random_seed(int(seed))
        elif deterministic and context.global_seed() is None:
            # Under op determinism an unseeded random op raises: give it a seed for this scope.
            tf.random.set_seed(0)
        yield
    finally:
        if was_deterministic != config.is_op_determinism_enabled():
            (config.enable_op_determinism if was_deterministic else config.disable_op_determinism)()
        random.setstate(saved_python)
        np.random.set_state(saved_numpy)
        tf.random.set_seed(saved_tf)
        for key, value in saved_keras.items():
            global_state.set_global_attribute(key, value)


def scoped(function):
    """Run ``function`` inside :func:`scope` (no seed of its own: it seeds itself)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with scope():
            return function(*args, **kwargs)

    return wrapper


def determinism_for_process(seed: int) -> str:
    """For the whole process (``setup`` and the command line only): op determinism (unless
    ``FERCOURSE_DETERMINISTIC=0``) and every global generator seeded. Returns what it set, in words."""
    import keras

    _, config = _framework()
    on = wanted()
    if on:
        config.enable_op_determinism()
    else:
        config.disable_op_determinism()
    keras.utils.set_random_seed(int(seed))
    return f"seed {seed}; op determinism {'on' if on else 'off (FERCOURSE_DETERMINISTIC=0)'}"
