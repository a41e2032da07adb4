"""TFLite / LiteRT export: the files load, agree with Keras, shrink as promised; batch-norm folding
is exact."""
import numpy as np
import pytest

from conftest import says

from fercourse import export, narrate
from fercourse.env import import_tensorflow


def _images(n=24, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def trained_small_vgg(tf_keras):
    """A light VGG at 32x32 trained for a few steps on a task with a clear answer (the brightest
    quadrant), so its probabilities are not all equal and an argmax comparison means something."""
    from fercourse.models import light_vgg

    tf, keras = tf_keras
    keras.utils.set_random_seed(0)
    x = _images(256, seed=1).astype("float32") / 255.0 * 0.3
    y = np.arange(256) % 4
    for i, c in enumerate(y):
        r, q = divmod(int(c), 2)
        x[i, 16 * r:16 * r + 16, 16 * q:16 * q + 16] += 0.6
    model = light_vgg(4, input_size=32)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    images = np.clip(x[:48] * 255, 0, 255).astype(np.uint8)
    return model, images, y[:48]


def test_every_format_loads_and_agrees_with_keras(trained_small_vgg):
    model, images, labels = trained_small_vgg
    rows, files = export.score_exports("small", model, images, labels, images[:32])
    by_format = {r.format: r for r in rows}
    assert set(by_format) == set(export.FORMATS) and set(files) == set(export.FORMATS)
    assert by_format["float32"].argmax_agreement == 1.0
    assert by_format["float16"].argmax_agreement >= 0.95
    assert by_format["int8"].argmax_agreement >= 0.8
    assert by_format["float32"].keras_accuracy > 0.5  # the model learned the task
    # int8 stores one byte per weight (+ scales), float16 two, float32 four
    mb = {k: r.megabytes for k, r in by_format.items()}
    params_mb = model.count_params() / 1e6
    assert mb["int8"] < 0.3 * mb["float32"] and mb["float16"] == pytest.approx(mb["float32"] / 2, rel=0.05)
    assert mb["float32"] == pytest.approx(4 * params_mb, rel=0.05)
    runner = export.interpreter(files["int8"])
    assert runner.get_input_details()[0]["dtype"] == np.uint8  # full-integer: the image goes in as bytes
    assert all(r.ms_per_image > 0 for r in rows)


def test_the_accuracy_pass_on_every_core_predicts_what_one_thread_does(trained_small_vgg):
    # score_exports predicts the whole split with os.cpu_count() threads and times with one:
    # the threads must change the speed only.
    model, images, _ = trained_small_vgg
    for kind in export.FORMATS:
        flat = export.to_tflite(model, kind, images[:32] if kind == "int8" else None)
        one = export.predict_tflite(export.interpreter(flat, 1), images)
        two = export.predict_tflite(export.interpreter(flat, 2), images)
        np.testing.assert_array_equal(one, two)


def test_folding_batch_norm_is_exact_and_removes_the_layers(tf_keras):
    from fercourse.models import light_vgg

    _, keras = tf_keras
    model = light_vgg(8, batch_norm=True, dropout=0.5, input_size=32)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # statistics far from their initial values, as after training
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma * rng.uniform(0.5, 2, gamma.shape), beta + rng.normal(0, 0.2, beta.shape),
                               mean + rng.normal(0, 0.5, mean.shape), var * rng.uniform(0.5, 3, var.shape)])
    folded = export.fold_batch_norm(model)
    x = _images(8).astype("float32") / 255.0
    # Exact up to float32 round-off (a few 1e-6 on probabilities: the standardised input makes the
    # activations larger than raw [0, 1] pixels did); a wrong fold is off by 1e-2 and more.
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    bn = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bn and not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    assert len(folded.layers) == len(model.layers) - len(bn)
    with pytest.raises(ValueError, match="cannot fold"):
        export.fold_batch_norm(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                                                 keras.layers.BatchNormalization()]))


def test_a_mixed_precision_model_is_exported_in_float32(tf_keras):
    from fercourse.models import light_vgg
    from fercourse.train import policy_scope

    with policy_scope("mixed_bfloat16"):
        model = light_vgg(4, input_size=32)
    copy = export.float32_copy(model)
    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    x = _images(4).astype("float32") / 255.0
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), atol=0.02)  # bf16 rounding


def test_the_export_sentences_follow_the_numbers():
    row = lambda model, fmt, mb, acc, keras_acc=0.9, ms=5.0: export.ExportRow(  # noqa: E731
        model, fmt, mb, ms, acc, keras_acc, 0.99)
    rows = [row("a", "float32", 15.0, 0.9), row("a", "int8", 3.8, 0.9, ms=1.4),
            row("b (batch norm)", "float32", 15.0, 0.8), row("b (batch norm)", "int8", 4.5, 0.7, 0.8)]
    text = narrate.export_sentences(rows, row("b (batch norm), not folded", "float32", 15.0, 0.8, ms=6.0),
                                   folded_tensors=40, unfolded_tensors=52)
    assert says(text, "a: int8 3.8 MB 3.9x smaller", "1.4 ms 5.0 ms", "99.0%", "keeps", "meets")
    assert says(text, "b (batch norm): int8 4.5 MB 3.3x smaller", "loses 10.0 points", "misses")
    assert says(text, "12 of 52 tensors", "6.0 ms unfolded", "5.0 ms folded")
    same = narrate.export_sentences(rows, row("b (batch norm), x", "float32", 15.0, 0.8), 40, 40)
    assert says(same, "already folded", "same 40 tensors") and not says(same, "removed")


def test_conversions_and_predictions_are_cached_and_keyed_by_the_weights(trained_small_vgg, tmp_path,
                                                                         monkeypatch):
    """A second scoring converts nothing, runs no Keras forward and gives the same rows (latency
    is re-measured); new weights are converted and predicted again."""
    model, images, labels = trained_small_vgg
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path))

    def kept():  # not the checksums, nor the hidden lock files
        return sorted(p.name for p in (tmp_path / "exports").iterdir()
                      if not p.name.endswith(".sha256") and not p.name.startswith("."))

    first, files = export.score_exports("small", model, images, labels, images[:32])
    assert len(kept()) == 7  # three flatbuffers, their predictions, the Keras model's predictions

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    real = export.to_tflite
    monkeypatch.setattr(export.tflite, "to_tflite", no_conversion)
    _, keras = import_tensorflow()
    predict = keras.Model.predict
    monkeypatch.setattr(keras.Model, "predict", lambda *a, **k: no_conversion())
    again, files_again = export.score_exports("small", model, images, labels, images[:32])
    assert files_again == files
    strip = lambda rows: [(r.format, r.megabytes, r.accuracy, r.keras_accuracy, r.argmax_agreement)  # noqa: E731
                          for r in rows]
    assert strip(again) == strip(first)
    monkeypatch.setattr(export.tflite, "to_tflite", real)
    monkeypatch.setattr(keras.Model, "predict", predict)
    other = export.float32_copy(model)
    other.get_layer("predictions").set_weights([w * 0 for w in other.get_layer("predictions").get_weights()])
    export.score_exports("zeroed", other, images, labels, images[:32], formats=("float32",))
    assert len(kept()) == 10


def test_the_standardisation_divisor_is_the_power_of_two_that_matches_the_ranges():
    from fercourse.models.standardize import standardize

    images = _images(16, seed=3)
    k = export.standardization_divisor(images)
    x = images.astype("float32") / 255.0
    centred = np.abs(x - x.mean(axis=(1, 2, 3), keepdims=True)).max()
    wide = np.abs(standardize(x)).max()
    assert k == 2 ** np.ceil(np.log2(wide / centred)) and k > 1  # uniform noise: std ~0.29, ratio ~6
    assert wide / k <= centred < 2 * wide / k
    flat = np.full((2, 8, 8, 3), 255, np.uint8)
    flat[:, 0, 0] = 0  # one dark pixel in a white image: std 0.12, the dark pixel 7.9 std away
    assert export.standardization_divisor(flat) == 16 > k
    assert export.standardization_divisor(np.full((2, 8, 8, 3), 90, np.uint8)) == 1  # nothing to widen


def test_rescaling_the_standardisation_keeps_the_function(trained_small_vgg, tf_keras):
    _, keras = tf_keras
    model, images, _ = trained_small_vgg
    copy = export.rescale_standardization(export.float32_copy(model), 8.0)
    assert copy.get_layer("standardize").divisor == 8.0
    np.testing.assert_array_equal(copy.get_layer("block1_conv1").get_weights()[0],
                                  8 * model.get_layer("block1_conv1").get_weights()[0])
    x = images.astype("float32") / 255.0
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert copy.get_layer("standardize").get_config()["divisor"] == 8.0  # saved with the copy
    assert "divisor" not in model.get_layer("standardize").get_config()  # stored runs' keys unchanged
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert export.rescale_standardization(plain, 8.0) is plain  # nothing to rescale


def test_int8_gives_the_centred_image_its_own_fine_scale(trained_small_vgg, monkeypatch):
    """TFLite's converter gives ``x - mean`` the int8 scale of the standardised tensor it feeds.
    Rescaled, that scale is the one its own range needs; not rescaled, it is several times coarser
    (the batch-norm light VGG's int8 copy lost 1.3 points to it, 0.5 rescaled)."""
    model, images, _ = trained_small_vgg
    calibration = images[:32]
    x = calibration.astype("float32") / 255.0
    needed = 2 * np.abs(x - x.mean(axis=(1, 2, 3), keepdims=True)).max() / 255  # its range in 255 steps

    def centred_scale():
        details = export.interpreter(export.to_tflite(model, "int8", calibration)).get_tensor_details()
        found = [d["quantization"][0] for d in details
                 if d["name"].endswith("standardize_1/sub") and len(d["shape"]) == 4]
        assert len(found) == 1, f"no single x - mean tensor among {[d['name'] for d in details]}"
        return found[0]

    rescaled = centred_scale()
    monkeypatch.setattr(export.tflite, "standardization_divisor", lambda images: 1.0)
    as_trained = centred_scale()
    assert rescaled <= 1.2 * needed
    assert as_trained >= 2.5 * needed


def test_edited_export_code_converts_again(trained_small_vgg, tmp_path, monkeypatch):
    from fercourse import digests

    model, images, _ = trained_small_vgg
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path))

    def files():
        kinds = [p.name.split("-")[0] for p in (tmp_path / "exports").iterdir() if p.suffix == ".tflite"]
        return set(kinds), len(kinds)

    real = digests.code_digest
    for edit in ("", "edited"):  # the export module's code as it is, then as if edited
        monkeypatch.setattr(digests, "code_digest", lambda *m, e=edit: real(*m) + e)
        for _ in range(2):  # the second call of each converts nothing
            export.cached_tflite(model, "float32")
            export.cached_tflite(model, "int8", images[:16])
        assert files() == ({"float32", "int8"}, 2 if not edit else 4)
