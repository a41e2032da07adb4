"""Cache keys that cannot mix runs: data split, model architecture, backbone weights.

Each test guards one way a key could be too coarse: a dataset fingerprint that ignores the
hold-out fraction and seed, a model store that ignores the architecture, a feature cache that
keys backbones by a label instead of their weights.
"""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import class_tree
from fercourse.data import hold_out, load_dataset
from fercourse.train import ModelStore, TrainConfig, train
from fercourse.digests import architecture_digest, weights_digest


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path / "cache"))


@pytest.fixture()
def train_only_tree(tmp_path):
    """Three classes, 20 random images each, no Validation folder."""
    rng = np.random.default_rng(0)
    root = tmp_path / "only_train"
    for c in ("happy", "sad", "anger"):
        folder = root / "Train" / c
        folder.mkdir(parents=True)
        for i in range(20):
            Image.fromarray(rng.integers(0, 255, (24, 24), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def _load(root, **kw):
    return load_dataset(root, image_size=16, log=lambda *a: None, **kw)


def test_the_fingerprint_names_the_hold_out_fraction_and_seed(train_only_tree):
    base = _load(train_only_tree, validation_split=0.2, seed=0)
    assert _load(train_only_tree, validation_split=0.2, seed=0).fingerprint == base.fingerprint
    other_fraction = _load(train_only_tree, validation_split=0.3, seed=0)
    other_seed = _load(train_only_tree, validation_split=0.2, seed=1)
    assert len({base.fingerprint, other_fraction.fingerprint, other_seed.fingerprint}) == 3
    # ... while all three share one decoded-image cache (the files are the same).
    assert base.decoded_fingerprint == other_fraction.decoded_fingerprint == other_seed.decoded_fingerprint
    assert set(base["validation"].files) != set(other_seed["validation"].files)


def test_models_follow_the_images_not_the_file_times(train_only_tree, tmp_path):
    import os
    import shutil

    base = _load(train_only_tree, validation_split=0.2)
    copy = tmp_path / "copy"  # the same images written again (as a regenerated built-in set is)
    shutil.copytree(train_only_tree, copy, copy_function=shutil.copyfile)
    for path in copy.rglob("*.png"):
        os.utime(path, ns=(1, 1))
    again = _load(copy, validation_split=0.2)
    assert again.decoded_fingerprint != base.decoded_fingerprint  # decoded again: the times changed
    assert again.fingerprint == base.fingerprint  # but the stored models and features still fit
    first = copy / "Train" / "happy" / "0.png"
    pixels = np.array(Image.open(first))
    pixels[0, 0] ^= 0xFF
    Image.fromarray(pixels).save(first)
    os.utime(first, ns=(2, 2))  # an edit gets a new time (the decoded cache notices by it)
    assert _load(copy, validation_split=0.2).fingerprint != base.fingerprint  # one pixel differs


def test_the_monitor_slice_is_stratified_disjoint_and_seeded(train_only_tree):
    data = _load(train_only_tree, validation_split=0.25)
    rest, monitor = hold_out(data["train"], 0.1, seed=3)
    assert not set(rest.files) & set(monitor.files)
    assert sorted(rest.files + monitor.files) == sorted(data["train"].files)
    counts = np.bincount(monitor.labels)  # 10 % of 45, rounded up, spread over the classes
    assert counts.sum() == 5 and counts.min() >= 1 and counts.max() - counts.min() <= 1
    again, _ = hold_out(data["train"], 0.1, seed=3)
    assert again.files == rest.files
    assert monitor.name == "monitor" and "held out" in monitor.source


def _dense(keras, units=4, dropout=0.0, name=None, dtype=None):
    layers = [keras.Input((6,)), keras.layers.Dense(units, activation="relu", dtype=dtype)]
    layers += [keras.layers.Dropout(dropout)] if dropout else []
    return keras.Sequential(layers + [keras.layers.Dense(2, activation="softmax")], name=name)


def test_the_architecture_digest_sees_builder_edits_not_auto_names(tf_keras):
    _, keras = tf_keras
    first = architecture_digest(_dense(keras))
    assert architecture_digest(_dense(keras)) == first  # Keras numbered the layers differently
    assert architecture_digest(_dense(keras, name="renamed")) == first
    assert architecture_digest(_dense(keras, units=5)) != first
    assert architecture_digest(_dense(keras, dropout=0.3)) != first
    assert architecture_digest(_dense(keras, dropout=0.3)) != architecture_digest(_dense(keras, dropout=0.5))
    # the precision a layer computes in is architecture (a nested "name" inside its dtype policy)
    assert architecture_digest(_dense(keras, dtype="mixed_bfloat16")) != first
    assert architecture_digest(_dense(keras, dtype="float32")) == first  # float32 is the default here


def test_an_edited_builder_never_reloads_stale_weights(tf_keras, tmp_path):
    tf, keras = tf_keras
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int32"))).batch(16)
    store, config = ModelStore(tmp_path / "store"), TrainConfig(epochs=1)
    first = train("net", lambda: _dense(keras), ds, ds, config, data_fingerprint="d", store=store, verbose=0)
    same = train("net", lambda: _dense(keras), ds, ds, config, data_fingerprint="d", store=store, verbose=0)
    edited = train("net", lambda: _dense(keras, dropout=0.5), ds, ds, config, data_fingerprint="d",
                   store=store, verbose=0)
    assert not first.from_store and same.from_store
    assert not edited.from_store and edited.entry.folder != first.entry.folder


def test_the_weights_digest_follows_the_weights(tf_keras):
    _, keras = tf_keras
    keras.utils.set_random_seed(0)
    a = _dense(keras)
    b = _dense(keras)
    b.set_weights(a.get_weights())
    assert weights_digest(a) == weights_digest(b)
    kernel, *rest = b.get_weights()
    kernel[0, 0] += 1e-3
    b.set_weights([kernel, *rest])
    assert weights_digest(a) != weights_digest(b)


def test_features_of_other_backbone_weights_are_computed_not_reused(tf_keras, tmp_path, monkeypatch):
    """Two backbones at one label ('file') but different weights: two feature caches."""
    from fercourse import recipes

    root = class_tree(tmp_path / "data", {"Train": 3, "Validation": 1}, size=32, cue="level")
    data = load_dataset(root, image_size=32, log=lambda *a: None)
    features = tmp_path / "cache" / "features"
    config = TrainConfig(epochs=1, batch_size=8)
    from fercourse import pretrained

    _, keras = tf_keras
    files = []
    for seed in (1, 2):  # two weight files of the same network, both labelled "file"
        keras.utils.set_random_seed(seed)
        backbone, _ = pretrained.vgg16_backbone((32, 32, 3), weights="random")
        files.append(tmp_path / f"vgg16_{seed}.weights.h5")
        backbone.save_weights(files[-1])
    run = recipes.train_vgg16_transfer(data, config, weights=files[0], copies=0, verbose=0, log=lambda *a: None)
    first = set(features.iterdir())
    other = recipes.train_vgg16_transfer(data, config, weights=files[1], copies=0, verbose=0, log=lambda *a: None)
    second = set(features.iterdir())
    assert not np.allclose(other.proba, run.proba)  # other weights: their own predictions, not the kept ones
    assert first and len(second) == 2 * len(first)  # other weights under the same label: new files
    # The same weights computed in another precision: features of their own, never mixed.
    for policy in ("float32", "mixed_bfloat16"):
        recipes.train_vgg16_transfer(data, config, weights=files[0], copies=0, verbose=0, log=lambda *a: None,
                                     policy=policy)
    assert len(set(features.iterdir())) == len(second) + len(first)
    # The same run again predicts nothing: its predictions are kept per exact weights and inputs.
    calls, predict = [], keras.Model.predict
    monkeypatch.setattr(keras.Model, "predict", lambda self, *a, **k: calls.append(1) or predict(self, *a, **k))
    again = recipes.train_vgg16_transfer(data, config, weights=files[0], copies=0, verbose=0, log=lambda *a: None)
    assert calls == []
    np.testing.assert_array_equal(again.proba, run.proba)
    np.testing.assert_array_equal(again.fit_proba, run.fit_proba)


def test_what_else_decides_a_run_is_part_of_its_key(tf_keras, tmp_path):
    """The augmentation ranges (passed as ``key``) separate otherwise equal runs."""
    tf, keras = tf_keras
    x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int32"))).batch(8)
    store, config = ModelStore(tmp_path / "store"), TrainConfig(epochs=1)
    runs = [train("net", lambda: _dense(keras), ds, ds, config, data_fingerprint="d", store=store, verbose=0,
                  key={"augmentation": {"zoom": zoom}}) for zoom in (0.1, 0.2, 0.1)]
    assert runs[0].entry.folder != runs[1].entry.folder
    assert runs[2].from_store and runs[2].entry.folder == runs[0].entry.folder


def test_the_augmentation_implementation_is_part_of_the_recipes_keys(monkeypatch):
    """Same ranges, a different way of drawing the images: models trained with the old
    augmentation must not be reused (the fused warp reused them before this key existed)."""
    from fercourse import augment
    from fercourse import recipes

    before = recipes._augmentation_key(recipes.LIGHT_VGG_QUICK)
    assert before["augmentation"]["implementation"] == augment.IMPLEMENTATION
    monkeypatch.setattr(augment, "IMPLEMENTATION", augment.IMPLEMENTATION + 1)
    assert recipes._augmentation_key(recipes.LIGHT_VGG_QUICK) != before
    assert recipes._augmentation_key(dataclasses.replace(recipes.LIGHT_VGG_QUICK, augment=False)) is None


def test_the_hold_out_is_scikit_learns_stratified_split():
    """The monitor slice is ``train_test_split(stratify=...)``'s test part; every class is in
    it, in proportion; a class with one image stays in training."""
    from sklearn.model_selection import train_test_split

    from fercourse.data.holdout import held_indices as _held_indices

    labels = np.repeat(np.arange(4), [40, 20, 10, 1])
    held = _held_indices(labels, 0.1, seed=5)
    pool = np.flatnonzero(labels != 3)
    _, expected = train_test_split(pool, test_size=7, stratify=labels[pool], random_state=5)
    np.testing.assert_array_equal(held, np.sort(expected))
    assert np.bincount(labels[held], minlength=4).tolist() == [4, 2, 1, 0]
    tiny = _held_indices(np.array([0, 0, 1, 1, 2, 2]), 0.1, seed=0)  # 0.1 of 6 rounds to 0
    assert sorted(np.array([0, 0, 1, 1, 2, 2])[tiny].tolist()) == [0, 1, 2]
    assert _held_indices(np.array([0, 1, 2]), 0.5, seed=0).size == 0  # nothing to stratify


def test_the_hold_out_code_is_part_of_every_store_key(tf_keras, tmp_path, monkeypatch):
    from fercourse import digests

    tf, keras = tf_keras
    x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int32"))).batch(8)
    store, config = ModelStore(tmp_path / "store"), TrainConfig(epochs=1)
    first = train("net", lambda: _dense(keras), ds, ds, config, data_fingerprint="d", store=store, verbose=0)
    real = digests.code_digest
    monkeypatch.setattr(digests, "code_digest",  # as if the hold-out's code had been edited
                        lambda *m: real(*m) + ("edited" if "fercourse.data.holdout" in m else ""))
    second = train("net", lambda: _dense(keras), ds, ds, config, data_fingerprint="d", store=store, verbose=0)
    assert not second.from_store and second.entry.folder != first.entry.folder


def test_keys_read_every_byte_of_an_array_wherever_it_sits(tmp_path):
    """A key made from an array's text form (json.dumps(default=str)) saw only its first and last
    elements: two large arrays differing in the middle shared a key."""
    from fercourse import digests, memo
    from fercourse.train import store

    a = np.zeros(5000, np.float32)
    b = a.copy()
    b[2500] = 1.0
    assert str(a) == str(b)  # what the old keys hashed
    assert digests.key({"x": a}) != digests.key({"x": b})
    assert store._key({"extra": [a]}) != store._key({"extra": [b]})
    assert memo.key_of("n", {"nested": (a,)}) != memo.key_of("n", {"nested": (b,)})


def test_keys_refuse_what_they_cannot_read_instead_of_printing_it():
    from fercourse import digests

    class Opaque:
        def __str__(self):
            return "always the same"

    with pytest.raises(TypeError, match="cannot key a Opaque"):
        digests.key({"x": Opaque()})
    with pytest.raises(TypeError, match="non-string keys"):
        digests.key({1: "a"})
    assert digests.key({"a": 1, "b": 2}) == digests.key({"b": 2, "a": 1})  # canonical: key order
    assert digests.key([1, 2]) != digests.key([2, 1]) and digests.key("1") != digests.key(1)


def test_what_is_trained_from_a_stored_run_follows_its_weights_not_its_entry_name(tf_keras):
    """A --force retrain without op determinism keeps the store entry's name but not its weights:
    features and models derived from it must not be reused."""
    import keras

    from fercourse import digests
    from fercourse import recipes

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    entry = type("Entry", (), {"folder": Path("light_vgg_plain-0123456789abcdef")})()
    source = type("Result", (), {"model": model, "entry": entry})()
    before_name, before_key = recipes._weights_of(source), digests.key({"classifier": model})
    model.set_weights([w + 1 for w in model.get_weights()])
    assert recipes._weights_of(source) != before_name
    assert digests.key({"classifier": model}) != before_key


def test_code_digests_follow_code_not_comments_or_docstrings(tmp_path, monkeypatch):
    """What replaces hand-bumped version numbers: the syntax tree of the code that computes a
    result, docstrings left out."""
    from fercourse import digests

    package = tmp_path / "codepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    source = package / "m.py"
    monkeypatch.syspath_prepend(str(tmp_path))

    def digest(text):
        source.write_text(text)
        digests.code_digest.cache_clear()
        return digests.code_digest("codepkg.m")

    base = digest('"""Doc."""\ndef f(x):\n    """Its doc."""\n    return x + 1\n')
    assert digest('"""Other doc."""\n# a comment\n\n\ndef f(x):\n    return x + 1  # why\n') == base
    assert digest('"""Doc."""\ndef f(x):\n    return x + 2\n') != base
    assert digest('"""Doc."""\ndef f(y):\n    return y + 1\n') != base
    digests.code_digest.cache_clear()


def test_memo_results_and_the_built_in_set_are_keyed_by_their_code(monkeypatch, tmp_path):
    from fercourse import digests, memo
    from fercourse.synthetic import generate

    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path))
    real = digests.code_digest
    compute = generate.action_unit_ceiling  # any fercourse function: its module's code is in the key
    before = memo.key_of("r", 1, code=memo._code_of(compute))
    small = dict(train_per_class=1, validation_per_class=1, image_size=32)
    first = generate.ensure_dataset(**small).root
    monkeypatch.setattr(digests, "code_digest", lambda *m: "f" + real(*m)[1:])
    assert memo.key_of("r", 1, code=memo._code_of(compute)) != before
    assert generate.ensure_dataset(**small).root != first  # edited generator code: drawn anew
    assert memo._code_of(lambda: 1) is None  # code outside fercourse: not part of the key
    assert memo._code_of(compute) == "fercourse.synthetic.generate"
