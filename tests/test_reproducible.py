"""Importing fercourse changes nothing in the process; seeds and determinism are scoped."""
import os
import subprocess
import sys

import numpy as np
import pytest

from fercourse import reproducible

IMPORT_EVERY_MODULE = r"""
import importlib, json, os, pkgutil, random
import numpy as np
import tensorflow, keras, h5py, cv2, sklearn, matplotlib  # third-party settings are their own
env0, fd2 = dict(os.environ), os.fstat(2)
py0, np0 = random.getstate(), np.random.get_state()[1].copy()
import fercourse
names = [m.name for m in pkgutil.walk_packages(fercourse.__path__, "fercourse.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
import tensorflow as tf
from tensorflow.python.eager import context
from tensorflow.python.framework import config
try:  # possible only while no op has run
    tf.config.threading.set_intra_op_parallelism_threads(1)
    op_ran = False
except RuntimeError:
    op_ran = True
after = os.fstat(2)
print(json.dumps({
    "modules": len(names),
    "env": sorted(k for k in set(env0) | set(os.environ) if env0.get(k) != os.environ.get(k)),
    "determinism": config.is_op_determinism_enabled(),
    "tf_seed": context.global_seed(),
    "fd2": (fd2.st_dev, fd2.st_ino) == (after.st_dev, after.st_ino),
    "python_rng": random.getstate() == py0,
    "numpy_rng": bool((np.random.get_state()[1] == np0).all()),
    "op_ran": op_ran,
}))
"""


def test_importing_every_module_changes_nothing_in_the_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    env["FERCOURSE_CACHE"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERY_MODULE], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["modules"] > 50
    assert seen == {**seen, "env": [], "determinism": False, "tf_seed": None, "fd2": True,
                    "python_rng": True, "numpy_rng": True, "op_ran": False}


@pytest.fixture
def clean_random_state(tf_keras):
    """Op determinism off and no TensorFlow seed for the test; the process' own state after."""
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config

    tf, _ = tf_keras
    was_on, seed = config.is_op_determinism_enabled(), context.global_seed()
    config.disable_op_determinism()
    tf.random.set_seed(None)
    yield tf
    (config.enable_op_determinism if was_on else config.disable_op_determinism)()
    tf.random.set_seed(seed)


def test_a_scope_seeds_inside_and_gives_every_random_state_back(clean_random_state):
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config

    tf = clean_random_state
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    draws = []
    for _ in range(2):
        with reproducible.scope(7):
            assert config.is_op_determinism_enabled() == reproducible.wanted()
            assert context.global_seed() == 7
            draws.append((np.random.rand(), float(tf.random.uniform(()))))
        assert (np.random.get_state()[1] == before).all()  # the caller's NumPy stream is untouched
        assert not config.is_op_determinism_enabled() and context.global_seed() is None
    assert draws[0] == draws[1]  # same seed inside, same numbers


def test_a_scope_restores_even_when_its_block_raises(clean_random_state):
    from tensorflow.python.framework import config

    with pytest.raises(ZeroDivisionError):
        with reproducible.scope(1):
            1 / 0
    assert not config.is_op_determinism_enabled()


def test_training_is_seeded_and_leaves_the_callers_random_state_alone(clean_random_state, tmp_path):
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config

    from fercourse.train import ModelStore, TrainConfig, train

    tf = clean_random_state
    import keras

    x = np.random.default_rng(0).uniform(0, 1, (16, 4, 4, 1)).astype("float32")
    y = (x.mean((1, 2, 3)) > 0.5).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)

    def build():
        return keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                                 keras.layers.Dense(2, activation="softmax")])

    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    weights = []
    for run in range(2):
        result = train(f"scoped{run}", build, ds, ds, TrainConfig(epochs=1, seed=3), data_fingerprint="s",
                       store=ModelStore(tmp_path / f"store{run}"), verbose=0)
        weights.append(result.model.get_weights()[0])
        assert (np.random.get_state()[1] == before).all()
        assert not config.is_op_determinism_enabled() and context.global_seed() is None
    np.testing.assert_array_equal(weights[0], weights[1])  # seeded by its config, not by the caller


def test_setup_and_the_command_line_make_the_process_wide_choices_and_say_so(clean_random_state):
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config

    from fercourse.session import configure_process

    said = configure_process(seed=4)
    assert config.is_op_determinism_enabled() and context.global_seed() == 4
    assert "seed 4" in said and "op determinism on" in said
