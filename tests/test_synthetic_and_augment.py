import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fercourse.augment import (DEFAULTS, augmentation_layers, count_table, expand_offline,
                               warp_matrices)
from fercourse.data import load_dataset
from fercourse.classes import AFFECTNET_CLASSES
from fercourse.synthetic import compose_sample, ensure_dataset, load_masks, write_dataset
from fercourse.synthetic.expressions import (BLEND_PROBABILITY, CONFUSABLE, INTENSITY_LOW, PROTOTYPES, REGION_BITS,
                                            sample_expression, shared_action_units)
from fercourse.synthetic.generate import compose_sample as _compose, sample_rng, sampled_action_units


def _tree_digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generator_is_deterministic_for_a_seed(tmp_path):
    write_dataset(tmp_path / "a", seed=3, train_per_class=2, validation_per_class=1, image_size=64)
    write_dataset(tmp_path / "b", seed=3, train_per_class=2, validation_per_class=1, image_size=64)
    write_dataset(tmp_path / "c", seed=4, train_per_class=2, validation_per_class=1, image_size=64)
    a, b, c = (_tree_digest(tmp_path / x) for x in "abc")
    assert a == b
    assert a.keys() == c.keys() and a != c
    assert len([k for k in a if k.endswith(".jpg")]) == 8 * 3


def test_one_sample_can_be_regenerated_alone():
    first = compose_sample("fear", sample_rng(0, "train", 4, 17))
    again = compose_sample("fear", sample_rng(0, "train", 4, 17))
    np.testing.assert_array_equal(first["image"], again["image"])
    np.testing.assert_array_equal(first["mask"], again["mask"])
    other = compose_sample("fear", sample_rng(0, "train", 4, 18))
    assert not np.array_equal(first["image"], other["image"])


@pytest.mark.parametrize("cls", AFFECTNET_CLASSES)
def test_samples_have_image_mask_and_valence_arousal(cls):
    sample = compose_sample(cls, np.random.default_rng(1), size=128)
    assert sample["image"].shape == (128, 128, 3) and sample["image"].dtype == np.uint8
    assert sample["mask"].shape == (128, 128)
    assert set(np.unique(sample["mask"])) <= set(range(16))
    assert -1 <= sample["va"][0] <= 1 and -1 <= sample["va"][1] <= 1
    assert sample["image"].std() > 10  # not a blank frame


def test_masks_mark_the_regions_each_class_moves():
    rng = np.random.default_rng(0)
    seen = {cls: 0 for cls in AFFECTNET_CLASSES}
    for cls in AFFECTNET_CLASSES:
        for _ in range(6):
            mask = compose_sample(cls, rng)["mask"]
            seen[cls] |= int(np.bitwise_or.reduce(mask.ravel()))
    assert seen["happy"] & REGION_BITS["mouth"] and seen["happy"] & REGION_BITS["eyes"]
    assert seen["disgust"] & REGION_BITS["nose"]
    assert seen["surprise"] & REGION_BITS["brows"]
    assert not seen["contempt"] & REGION_BITS["brows"]  # contempt is one mouth corner


def test_expression_intensity_and_prototypes():
    rng = np.random.default_rng(0)
    happy = [sample_expression("happy", rng) for _ in range(200)]
    intensities = np.array([h["intensity"] for h in happy])
    assert INTENSITY_LOW <= intensities.min() and intensities.max() <= 1.0
    smile = np.array([h["aus"]["AU12"] for h in happy])
    plain = np.array([h["blend"] is None for h in happy])
    # Stronger expression, stronger smile: AU12 = intensity x U(0.8, 1.2) + a spurious 0-0.12.
    assert np.all(smile[plain] >= 0.8 * intensities[plain])
    assert np.all(smile[plain] <= 1.2 * intensities[plain] + 0.12)
    # About BLEND_PROBABILITY of the faces are ambiguous: a weaker smile plus contempt's AU14R.
    assert abs((~plain).mean() - BLEND_PROBABILITY) < 0.07
    assert {h["blend"] for h in happy} == {None, CONFUSABLE["happy"]} == {None, "contempt"}
    dimple = np.array([h["aus"]["AU14R"] for h in happy])
    assert dimple[~plain].min() > 0.12 >= dimple[plain].max()  # 0.12: the largest spurious activation
    assert sample_expression("neutral", rng)["intensity"] == 0.0
    assert set(PROTOTYPES) == set(AFFECTNET_CLASSES)
    with pytest.raises(ValueError, match="unknown class"):
        sample_expression("bored", rng)


def test_generated_set_loads_through_the_real_loader_with_masks(tmp_path, monkeypatch):
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path))
    info = ensure_dataset(seed=1, train_per_class=3, validation_per_class=2)
    assert ensure_dataset(seed=1, train_per_class=3, validation_per_class=2).root == info.root  # cached
    data = load_dataset(info.root, log=lambda *a: None)
    assert data.classes == AFFECTNET_CLASSES and len(data["train"]) == 24 and len(data["validation"]) == 16
    assert not np.isnan(data["train"].valence_arousal).any()
    assert data.report.skipped == []
    with pytest.raises(ValueError, match="only for the built-in"):
        load_masks(data, "train")  # loaded by path, so not marked as generated
    from fercourse.data import resolve_data_root

    monkeypatch.chdir(tmp_path)
    generated = load_dataset(resolve_data_root(log=lambda *a: None, seed=1, train_per_class=3,
                                               validation_per_class=2), log=lambda *a: None)
    masks = load_masks(generated, "validation")
    assert masks.shape == (16, 128, 128) and masks.any(axis=(1, 2)).all()


def test_two_chapters_asking_for_the_set_at_once_draw_it_once(tmp_path, monkeypatch):
    """The report runs chapters side by side; both need the built-in set on a cold cache."""
    import threading
    import time

    from fercourse.synthetic import generate

    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path))
    drawn = []

    def slow_write(folder, *args):  # long enough that both callers arrive before it is published
        drawn.append(folder)
        time.sleep(0.5)
        (Path(folder) / "manifest.json").write_text("{}")

    monkeypatch.setattr(generate, "write_dataset", slow_write)
    start = threading.Barrier(2)
    roots = []

    def chapter():
        start.wait()
        roots.append(generate.ensure_dataset(seed=7, train_per_class=2, validation_per_class=1).root)

    threads = [threading.Thread(target=chapter) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(drawn) == 1 and roots[0] == roots[1] and (roots[0] / "manifest.json").exists()


def test_ensure_dataset_rejects_bad_sizes():
    with pytest.raises(ValueError, match="train_per_class"):
        ensure_dataset(train_per_class=0)


def test_augmentation_keeps_shape_and_range(tf_keras):
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 1, (8, 64, 64, 3)).astype("float32")
    batch[0] = 1.0
    batch[1] = 0.0
    out = np.asarray(augmentation_layers(seed=1)(batch, training=True))
    assert out.shape == batch.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.allclose(out, batch)
    same = np.asarray(augmentation_layers(seed=1)(batch, training=False))
    np.testing.assert_array_equal(same, batch)  # inference: identity


def test_augmentation_flips_only_horizontally(tf_keras):
    layers = augmentation_layers().layers
    assert [type(layer).__name__ for layer in layers] == [
        "RandomFaceWarp", "RandomContrast", "RandomBrightness"]
    # a pure flip of the fused warp is a left-right mirror, never an up-down one
    image = np.random.default_rng(0).uniform(0, 1, (1, 9, 7, 3)).astype("float32")
    flipped = _warp(tf_keras, image, flip=1)
    np.testing.assert_allclose(flipped, image[:, :, ::-1], atol=1e-6)
    with pytest.raises(ValueError, match="unknown augmentation setting"):
        augmentation_layers(vertical_flip=True)
    assert set(DEFAULTS) == {"rotation", "zoom", "translation", "contrast", "brightness"}


def _warp(tf_keras, images, flip=0, angle=0.0, zoom=1.0, dx=0.0, dy=0.0):
    """Apply one fused warp with given parameters (the same for every image)."""
    _, keras = tf_keras
    n, h, w = images.shape[:3]
    args = [np.full(n, v, "float32") for v in (flip, angle, zoom, dx, dy)]
    m = warp_matrices(*args, h, w)
    return np.asarray(keras.ops.image.affine_transform(images, m, interpolation="bilinear",
                                                       fill_mode="reflect"))


def _keras_chain_matrix(flip, angle, zoom, dx, dy, h, w):
    """The 3x3 output-to-input maps of Keras' separate layers, multiplied in layer order."""
    cx, cy = (w - 1) / 2, (h - 1) / 2
    f = np.array([[-1, 0, w - 1], [0, 1, 0], [0, 0, 1]], float) if flip else np.eye(3)
    c, s = np.cos(angle), np.sin(angle)
    r = np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [0, 0, 1]])
    z = np.array([[zoom, 0, cx * (1 - zoom)], [0, zoom, cy * (1 - zoom)], [0, 0, 1]])
    t = np.array([[1, 0, -dx], [0, 1, -dy], [0, 0, 1]])
    return f @ r @ z @ t


@settings(max_examples=40, deadline=None)
@given(flip=st.integers(0, 1), angle=st.floats(-0.7, 0.7), zoom=st.floats(0.8, 1.2),
       dx=st.floats(-10, 10), dy=st.floats(-10, 10), h=st.integers(4, 200), w=st.integers(4, 200))
def test_fused_warp_equals_the_chain_of_keras_layers(tf_keras, flip, angle, zoom, dx, dy, h, w):
    """One matrix = flip, rotation, zoom, shift applied one after the other (as pixel maps)."""
    m = np.asarray(warp_matrices(*[np.array([v], "float32") for v in (flip, angle, zoom, dx, dy)],
                                 h, w))[0]
    fused = np.array([m[:3], m[3:6], [0, 0, 1]], float)
    np.testing.assert_allclose(fused, _keras_chain_matrix(flip, angle, zoom, dx, dy, h, w),
                               atol=2e-4 * max(h, w))


def test_fused_warp_moves_pixels_as_claimed(tf_keras):
    """Integer shifts move content exactly; a quarter turn of a square is np.rot90; zoom > 1
    shows more of the frame (the centre shrinks)."""
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, (1, 16, 16, 3)).astype("float32")
    shifted = _warp(tf_keras, image, dx=3, dy=-2)
    np.testing.assert_allclose(shifted[0, 2:14, 3:16], image[0, 4:16, 0:13], atol=1e-5)
    turned = _warp(tf_keras, image, angle=np.pi / 2)
    assert min(np.abs(turned[0] - np.rot90(image[0], k)).max() for k in (1, 3)) < 1e-5
    disc = np.zeros((1, 33, 33, 1), "float32")
    yy, xx = np.mgrid[:33, :33]
    disc[0, ..., 0] = (yy - 16) ** 2 + (xx - 16) ** 2 <= 8 ** 2
    assert _warp(tf_keras, disc, zoom=1.2).sum() < disc.sum() < _warp(tf_keras, disc, zoom=0.8).sum()


def test_fused_warp_draws_within_the_ranges(tf_keras):
    """Flip about half the time; the centre pixel's displacement bounded by the ranges."""
    layer = augmentation_layers(seed=3).layers[0]
    n, size = 400, 64
    ramp = np.broadcast_to(np.linspace(0, 1, size, dtype="float32")[None, None, :, None],
                           (n, size, size, 1)).copy()
    out = np.asarray(layer(ramp, training=True))
    centre = out[:, size // 2, size // 2 - 8 : size // 2 + 8, 0]
    slope = np.sign(centre[:, -1] - centre[:, 0])
    assert 0.4 < np.mean(slope < 0) < 0.6  # flipped about half the time
    # Max. displacement: shift 5 % of 64 = 3.2 px plus rotation/zoom of a pixel 0.5 px off
    # centre; the ramp rises 1/63 per pixel.
    middle = out[:, size // 2, size // 2, 0]
    assert np.all(np.abs(middle - ramp[0, 0, size // 2, 0]) <= (3.2 * 1.42 + 1.0) / 63)
    assert np.std(middle) > 0.5 / 63  # and it does move
    same = layer(ramp[:4], training=False)
    np.testing.assert_array_equal(np.asarray(same), ramp[:4])


def test_offline_expansion_counts(tf_keras):
    images = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(10) % 3
    x, y = expand_offline(images, labels, factor=3)
    assert x.shape == (30, 32, 32, 3) and x.dtype == np.uint8 and y.tolist() == labels.tolist() * 3
    np.testing.assert_array_equal(x[:10], images)  # originals first, unchanged
    assert not np.array_equal(x[10:20], images)
    xf, _ = expand_offline(images / 255.0, labels, factor=2)
    assert xf.dtype == np.float32 and 0 <= xf.min() and xf.max() <= 1
    table = count_table(labels, y, ["a", "b", "c"])
    assert table["before"].tolist() == [4, 3, 3, 10] and table["after"].tolist() == [12, 9, 9, 30]
    with pytest.raises(ValueError, match="factor"):
        expand_offline(images, labels, factor=0)


def test_shared_action_units_table():
    table = shared_action_units()
    assert list(table.index) == list(table.columns) == list(AFFECTNET_CLASSES)
    assert table.loc["fear", "surprise"] == table.loc["surprise", "fear"] == "AU1 AU2 AU5 AU26"
    assert table.loc["anger", "disgust"] == "AU4 AU7"
    assert table.loc["happy", "contempt"] == "" and table.loc["neutral", "sad"] == ""
    assert table.loc["contempt", "contempt"] == "AU14R"  # the diagonal: a class's own AUs


def test_sampled_action_units_are_those_the_images_were_drawn_from():
    x, y = sampled_action_units(seed=0, split="validation", per_class=3)
    assert x.shape == (24, 14) and y.tolist() == [c for c in range(8) for _ in range(3)]
    for row, (ci, i) in zip(x, [(c, k) for c in range(8) for k in range(3)]):
        aus = _compose(AFFECTNET_CLASSES[ci], sample_rng(0, "validation", ci, i), size=32)["aus"]
        np.testing.assert_array_equal(row, list(aus.values()))


def test_the_action_unit_ceiling_errs_only_on_the_blended_pairs():
    from fercourse.synthetic.generate import action_unit_ceiling

    accuracy, confusion = action_unit_ceiling()
    assert 0.9 < accuracy < 1.0  # separable, but the blended faces stay ambiguous
    for i, j in zip(*np.nonzero(confusion)):
        if i != j:
            a, b = AFFECTNET_CLASSES[i], AFFECTNET_CLASSES[j]
            assert CONFUSABLE[a] == b or CONFUSABLE[b] == a, (a, b)
