"""The CAM toolkit on models whose evidence is known, and its metrics on masks with known answers."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import says

SIZE = 24


def _square_images(n: int, seed: int = 0, side: int = 6):
    """Dark images (0.1) with one bright square (1.0) each; returns images, boolean masks."""
    rng = np.random.default_rng(seed)
    images = np.full((n, SIZE, SIZE, 3), 0.1, np.float32)
    masks = np.zeros((n, SIZE, SIZE), bool)
    for i in range(n):
        y, x = rng.integers(2, SIZE - side - 2, size=2)
        images[i, y:y + side, x:x + side] = 1.0
        masks[i, y:y + side, x:x + side] = True
    return images, masks


def _square_detector(keras, kind: str = "functional"):
    """One 3x3 filter that fires only on bright pixels (sum over 27 inputs > 20), global average
    pooling, and Dense(2, softmax) that votes class 0 with the filter's response."""
    layers = [keras.layers.Conv2D(1, 3, padding="same", activation="relu", name="detector"),
              keras.layers.GlobalAveragePooling2D(name="gap"),
              keras.layers.Dense(2, activation="softmax", name="predictions")]
    if kind == "sequential":
        model = keras.Sequential([keras.Input((SIZE, SIZE, 3))] + layers)
    else:
        x = inputs = keras.Input((SIZE, SIZE, 3))
        for layer in layers:
            x = layer(x)
        model = keras.Model(inputs, x)
    model.get_layer("detector").set_weights([np.ones((3, 3, 3, 1), np.float32), np.array([-20.0], np.float32)])
    model.get_layer("predictions").set_weights([np.array([[40.0, -40.0]], np.float32), np.zeros(2, np.float32)])
    return model


def _nested(keras, inner):
    """A functional model that calls ``inner``'s convolution part as a nested model, like the
    VGG16 transfer model calls its backbone."""
    backbone = keras.Model(inner.inputs, inner.get_layer("detector").output, name="backbone")
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1.0, name="identity_preprocess")(inputs)
    x = backbone(x)
    x = inner.get_layer("gap")(x)
    return keras.Model(inputs, inner.get_layer("predictions")(x), name="nested")


@pytest.mark.parametrize("method", ["CAM", "Grad-CAM", "Grad-CAM++", "Score-CAM"])
def test_every_method_peaks_on_the_evidence(tf_keras, method):
    from fercourse.cam import METHODS, pointing_game

    _, keras = tf_keras
    images, masks = _square_images(6)
    maps = METHODS[method](_square_detector(keras))(images, classes=0)
    assert maps.shape == (6, SIZE, SIZE) and maps.min() >= 0 and maps.max() <= 1
    assert np.all(pointing_game(maps, masks) == 1.0)
    # the evidence is *on* the square: most of the map is there (it covers 6 % of the image)
    inside = (maps * masks).sum(axis=(1, 2)) / maps.sum(axis=(1, 2))
    assert np.all(inside > 0.5)


@pytest.mark.parametrize("kind", ["sequential", "functional", "nested"])
def test_grad_cam_works_on_sequential_functional_and_nested_models(tf_keras, kind):
    from fercourse.cam import GradCAM, pointing_game

    _, keras = tf_keras
    model = _square_detector(keras, "sequential" if kind == "sequential" else "functional")
    if kind == "nested":
        model = _nested(keras, model)
    images, masks = _square_images(4, seed=1)
    cam = GradCAM(model)
    assert cam.target_layer == "detector"  # found inside the nested model too
    maps = cam(images, classes=0)
    assert np.all(pointing_game(maps, masks) == 1.0)
    assert cam.forward.uses_logits


def test_batched_maps_equal_per_image_maps(tf_keras):
    from fercourse.cam import GradCAM, GradCAMPlusPlus
    from fercourse.models import light_vgg

    _, keras = tf_keras
    keras.utils.set_random_seed(3)
    model = light_vgg(4, input_size=32)
    images = np.random.default_rng(0).random((5, 32, 32, 3), dtype=np.float32)
    for method in (GradCAM, GradCAMPlusPlus):
        batched = method(model, batch_size=5)(images)
        single = np.concatenate([method(model, batch_size=1)(images[i:i + 1]) for i in range(5)])
        np.testing.assert_allclose(batched, single, atol=1e-4)


def test_target_layer_defaults_to_the_last_convolution_and_names_are_checked(tf_keras):
    from fercourse.cam import find_target_layer
    from fercourse.models import light_vgg, light_vgg_gap

    _, keras = tf_keras
    assert find_target_layer(light_vgg(8, input_size=32)).name == "block5_conv2"  # not block5_pool
    assert find_target_layer(light_vgg_gap(8, input_size=32)).name == "block5_conv2"
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        find_target_layer(light_vgg(8, input_size=32), "nope")
    with pytest.raises(ValueError, match="output shape"):
        find_target_layer(light_vgg(8, input_size=32), "fc1")


def test_cam_refuses_a_model_without_a_gap_head(tf_keras):
    from fercourse.cam import CAM
    from fercourse.models import light_vgg

    with pytest.raises(ValueError, match="use GradCAM"):
        CAM(light_vgg(8, input_size=32))


def test_cam_equals_grad_cam_on_a_gap_head(tf_keras):
    """With GAP -> Dense, Grad-CAM's weights are W[:, c] / (h w): the same map as CAM."""
    from fercourse.cam import CAM, GradCAM
    from fercourse.models import light_vgg_gap

    _, keras = tf_keras
    keras.utils.set_random_seed(0)
    model = light_vgg_gap(8, input_size=32)
    images = np.random.default_rng(1).random((3, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(CAM(model)(images, classes=2), GradCAM(model)(images, classes=2), atol=1e-4)


def test_a_perfect_map_deletes_faster_and_inserts_faster_than_a_random_one(tf_keras):
    from fercourse.cam import perturbation_curves, random_maps

    _, keras = tf_keras
    model = _square_detector(keras)
    images, masks = _square_images(8, seed=2)
    perfect = masks.astype(np.float32)
    random = random_maps(perfect.shape, seed=0)
    kw = dict(steps=10, baseline="zero")
    good = perturbation_curves(model, images, perfect, np.zeros(8, int), kind="deletion", **kw)
    bad = perturbation_curves(model, images, random, np.zeros(8, int), kind="deletion", **kw)
    assert good.probabilities.shape == (8, 11)
    assert np.allclose(good.probabilities[:, 0], bad.probabilities[:, 0])  # same start
    assert good.auc.mean() < bad.auc.mean() - 0.15
    good_in = perturbation_curves(model, images, perfect, np.zeros(8, int), kind="insertion", **kw)
    bad_in = perturbation_curves(model, images, random, np.zeros(8, int), kind="insertion", **kw)
    assert good_in.auc.mean() > bad_in.auc.mean() + 0.15


def test_pointing_game_and_energy_share_on_known_masks():
    from fercourse.cam import energy_in_region, pointing_game, region_share

    masks = np.zeros((3, 4, 4), np.uint8)
    masks[0, :2, :2] = 1          # region = top-left quarter
    masks[1, 2:, :] = 4           # bottom half (another region bit)
    maps = np.zeros((3, 4, 4), np.float32)
    maps[0, 0, 0], maps[0, 3, 3] = 3.0, 1.0   # peak inside, 3/4 of the energy inside
    maps[1, 0, 0], maps[1, 3, 0] = 2.0, 2.0   # tie: the first pixel (outside) is the peak; half inside
    maps[2] = 1.0                              # empty region: undefined
    np.testing.assert_allclose(pointing_game(maps, masks)[:2], [1.0, 0.0])
    np.testing.assert_allclose(energy_in_region(maps, masks)[:2], [0.75, 0.5])
    np.testing.assert_allclose(region_share(masks)[:2], [0.25, 0.5])
    assert np.isnan(pointing_game(maps, masks)[2]) and np.isnan(energy_in_region(maps, masks)[2])


def test_a_uniform_map_scores_the_chance_level_of_energy():
    """The chance line is honest: a flat map puts exactly the region's share inside."""
    from fercourse.cam import energy_in_region, region_share

    _, masks = _square_images(5, seed=4)
    flat = np.ones(masks.shape, np.float32)
    np.testing.assert_allclose(energy_in_region(flat, masks), region_share(masks))


def test_examples_are_the_surest_hits_and_misses_and_shortfalls_are_named():
    from fercourse.cam import pick_examples

    y = np.array([0, 0, 0, 1, 1, 1])
    proba = np.array([[.9, .1], [.6, .4], [.2, .8], [.3, .7], [.1, .9], [.8, .2]])
    ex = pick_examples(y, proba, per_class=2)
    assert ex.hits == {0: [0, 1], 1: [4, 3]}
    assert ex.misses == {0: [2], 1: [5]}
    assert ex.shortfalls == {0: (2, 1), 1: (2, 1)}
    assert list(ex.indices()) == [2, 0, 1, 5, 4, 3]


def test_overlay_is_uint8_rgb_of_the_image_size():
    from fercourse.cam import overlay

    out = overlay(np.zeros((16, 16, 3), np.float32), np.linspace(0, 1, 64).reshape(8, 8))
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8 and out.max() > 0


def test_region_table_has_one_row_per_class_with_chance():
    from fercourse.cam import region_table

    _, masks = _square_images(4, seed=5)
    maps = masks.astype(np.float32)
    table = region_table(maps, masks, np.array([0, 0, 1, 1]), ("a", "b"))
    assert list(table.index) == ["a", "b"]
    assert np.allclose(table["pointing"], 1.0) and np.allclose(table["energy"], 1.0)
    assert np.all(table["energy / chance"] > 10)


def test_cam_sentences_follow_the_numbers():
    import pandas as pd

    from fercourse.narrate import (failure_sentence, faithfulness_sentence, improvement_sentence,
                                   penalty_sentence, region_sentence)

    table = pd.DataFrame({"pointing": [np.nan, 0.8, 0.1], "energy": [np.nan, 0.4, 0.1],
                          "chance": [np.nan, 0.2, 0.2]}, index=["neutral", "happy", "sad"])
    table["energy / chance"] = table["energy"] / table["chance"]
    text = region_sentence(table)
    assert says(text, "1 of 2", "0.50 sad", "2.00 happy") and says(text, "neutral")
    text = failure_sentence([0.1, 0.3, 0.5], [0.5, 0.9, 0.9], [False, True, True], pairs=1.0)
    assert says(text, "less", "10 % 40 %", "less sure", "0.50 0.90") and says(text, "100 %")
    aucs = {"A": {"deletion": 0.2, "insertion": 0.8}, "B": {"deletion": 0.7, "insertion": 0.5},
            "random": {"deletion": 0.6, "insertion": 0.6}}
    text = faithfulness_sentence(aucs)
    assert says(text, "1 of 2", "A 0.200 0.600", "1 of 2", "A 0.800 0.600")
    before = {"parameters": 4e6, "accuracy": 0.9, "energy in region": 0.3, "pointing game": 0.5, "deletion AUC": 0.4}
    after = {"parameters": 1e6, "accuracy": 0.85, "energy in region": 0.35, "pointing game": 0.25,
             "deletion AUC": 0.5}
    text = improvement_sentence(before, after, "plain", "GAP")
    assert says(text, "GAP 4.0x fewer plain", "5.0 less", "more", "35 % 30 %", "25 % 50 %", "more slowly",
                "0.500 0.400")
    text = penalty_sentence({**before, "accuracy": 0.9}, {**after, "accuracy": 0.902}, 3.0)
    assert says(text, "3", "35 % 30 %", "+5", "25 % 50 %", "same accuracy", "0.902 0.900")


def test_bench_cam_runs_at_tiny_size_and_both_methods_agree():
    """Smoke test of benchmarks/bench_cam.py (the timing itself is not tested)."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_cam.py"
    out = subprocess.run([sys.executable, str(script), "--images", "4", "--repeats", "1"], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    assert "ratio (baseline / fercourse)" in out
    difference = float(re.search(r"largest difference between the maps: (\S+)", out).group(1))
    assert difference < 1e-3


def test_score_cam_and_perturbation_curves_are_cached_by_model_and_inputs(tf_keras, tmp_path, monkeypatch):
    """The slow analyses run once per (weights, inputs, settings): a second call does not run the
    model; new weights or other images compute again (fercourse.memo)."""
    from fercourse.cam import ScoreCAM
    from fercourse.cam.faithfulness import perturbation_curves

    _, keras = tf_keras
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path))
    model = _square_detector(keras)
    images, _ = _square_images(4)
    first = ScoreCAM(model, channels=1)(images, classes=0)
    curves = perturbation_curves(model, images, first, np.zeros(4, int), steps=4)
    calls = []
    real = model.predict_on_batch
    monkeypatch.setattr(model, "predict_on_batch", lambda x: calls.append(1) or real(x))
    np.testing.assert_array_equal(ScoreCAM(model, channels=1)(images, classes=0), first)
    again = perturbation_curves(model, images, first, np.zeros(4, int), steps=4)
    np.testing.assert_array_equal(again.probabilities, curves.probabilities)
    assert not calls  # read from the cache, the model never ran
    perturbation_curves(model, images[:3], first[:3], np.zeros(3, int), steps=4)
    assert calls  # other images: computed
    calls.clear()
    detector = model.get_layer("detector")
    kernel, bias = detector.get_weights()
    detector.set_weights([kernel, bias + 1.0])
    ScoreCAM(model, channels=1)(images, classes=0)
    assert calls  # other weights: computed
