import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fercourse.evaluate import (ClassificationReport, ConfusionDisplay, HistoryComparisonDisplay, HistoryDisplay,
                                RocDisplay, predict_proba)
from fercourse.errors import WeightsError
from fercourse.train import ModelStore, TrainConfig, train
from fercourse.train import policy as policy_module


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path / "cache"))


# --- models ----------------------------------------------------------------------------

def test_light_vgg_parameter_counts(tf_keras):
    from fercourse.models import light_vgg

    plain = light_vgg(8)
    assert plain.count_params() == 3_744_664
    assert plain.get_layer("flatten").output.shape[-1] == 2048
    assert [plain.get_layer(f"block{b}_conv2").output.shape[-1] for b in range(1, 6)] == [16, 32, 64, 128, 128]
    assert light_vgg(2, task="regression").count_params() == 3_744_664 - 6 * 1025
    bn = light_vgg(8, batch_norm=True, dropout=0.5)
    assert bn.count_params() == 3_744_664 + 4 * (16 + 32 + 64 + 128 + 128) + 4 * 2048
    with pytest.raises(ValueError, match="task must be"):
        light_vgg(8, task="ranking")


def test_vgg16_transfer_uses_the_bundled_fallback_and_says_so(tf_keras, monkeypatch):
    from fercourse import pretrained
    from fercourse.models.vgg16_transfer import vgg16_transfer

    monkeypatch.setattr(pretrained, "_try_imagenet", lambda *a, **k: None)  # offline, as here
    model, backbone, head, info = vgg16_transfer(8, weights="auto", log=lambda *a: None)
    assert info.source == "hed-bsds500" and info.pretrained and "not ImageNet's own" in info.description
    assert not backbone.trainable and head.count_params() == 2 * 8192 + 8192 * 256 + 256 + 256 * 8 + 8  # mean, std
    bundled = pretrained.read_hed_kernels(pretrained.hed_weights_file())
    assert len(bundled) == 13
    fresh, _ = pretrained.vgg16_backbone(weights="random")
    for name, (kernel, bias) in bundled.items():
        loaded = backbone.get_layer(name).get_weights()
        np.testing.assert_array_equal(loaded[0], kernel)  # exactly the package's numbers
        np.testing.assert_array_equal(loaded[1], bias)
        assert not np.allclose(fresh.get_layer(name).get_weights()[0], kernel)  # not a random init
    x = np.random.default_rng(0).uniform(0, 1, (2, 128, 128, 3)).astype("float32")
    proba = np.asarray(model(x))
    assert proba.shape == (2, 8) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_pretrained_never_falls_back_to_random_silently(tf_keras, monkeypatch, tmp_path):
    from fercourse import pretrained

    monkeypatch.setattr(pretrained, "_try_imagenet", lambda *a, **k: None)
    monkeypatch.setattr(pretrained, "hed_weights_file", lambda: None)
    monkeypatch.delenv("FERCOURSE_VGG16_WEIGHTS", raising=False)
    with pytest.raises(WeightsError, match="no pretrained VGG16 weights available"):
        pretrained.vgg16_backbone(weights="auto")
    _, info = pretrained.vgg16_backbone(weights="random")
    assert not info.pretrained and "NOT pretrained" in str(info)
    with pytest.raises(WeightsError, match="does not exist"):
        pretrained.vgg16_backbone(weights=tmp_path / "missing.h5")
    # a user file: save a backbone's weights and load them back through the FERCOURSE_VGG16_WEIGHTS path
    source, _ = pretrained.vgg16_backbone(weights="random")
    path = tmp_path / "mine.weights.h5"
    source.save_weights(path)
    monkeypatch.setenv("FERCOURSE_VGG16_WEIGHTS", str(path))
    loaded, info = pretrained.vgg16_backbone(weights="auto")
    assert info.source == "file" and info.sha256
    np.testing.assert_array_equal(loaded.get_layer("block1_conv1").get_weights()[0],
                                  source.get_layer("block1_conv1").get_weights()[0])


# --- policy -----------------------------------------------------------------------------

def test_policy_follows_the_hardware(tf_keras, monkeypatch):
    monkeypatch.delenv("FERCOURSE_POLICY", raising=False)
    monkeypatch.setattr(policy_module, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    tf, _ = tf_keras
    if not tf.config.list_logical_devices("GPU"):
        assert policy_module.choose_policy()[0] == "mixed_bfloat16"
        monkeypatch.setattr(policy_module, "cpu_flags", lambda: {"avx2", "fma"})
        name, reason = policy_module.choose_policy()
        assert name == "float32" and "no native bfloat16" in reason
    monkeypatch.setenv("FERCOURSE_POLICY", "mixed_bfloat16")
    assert policy_module.choose_policy() == ("mixed_bfloat16", "set by FERCOURSE_POLICY")


@pytest.mark.parametrize("env, expected", [
    ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, "float32"),
    ({"DNNL_MAX_CPU_ISA": "avx512_core"}, "float32"),
    ({"TF_ENABLE_ONEDNN_OPTS": "0"}, "float32"),
    ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, "mixed_bfloat16"),
    ({"ONEDNN_MAX_CPU_ISA": "ALL", "TF_ENABLE_ONEDNN_OPTS": "1"}, "mixed_bfloat16"),
])
def test_policy_follows_a_onednn_cap(tf_keras, monkeypatch, env, expected):
    # Capping oneDNN below bfloat16 (to mimic an AVX2-only CPU) makes bfloat16 emulated even
    # where the CPU's flags have it: the policy must then be float32, and say why.
    tf, _ = tf_keras
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("a GPU decides the policy")
    for name in ("FERCOURSE_POLICY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(policy_module, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    name, reason = policy_module.choose_policy()
    assert name == expected
    if expected == "float32":
        assert "but" in reason and next(iter(env)) in reason


def test_predict_proba_is_the_models_forward_in_the_datasets_order(tf_keras):
    # Compiled per batch shape: a last, smaller batch must not be dropped, reordered or padded.
    tf, keras = tf_keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(1).uniform(0, 1, (23, 6, 6, 3)).astype("float32")
    y = np.arange(23) % 3
    y_true, proba = predict_proba(model, tf.data.Dataset.from_tensor_slices((x, y)).batch(8))
    np.testing.assert_array_equal(y_true, y)
    assert proba.shape == (23, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba, np.asarray(model(x, training=False)), rtol=1e-5, atol=1e-6)


def test_a_memo_key_is_the_whole_array_hashed_in_slices(tmp_path, monkeypatch):
    # Hashed a slice at a time (bounded memory for a memory-mapped split), the key is still that of
    # every byte, shape and dtype: the same for a memory map and its copy, new for one changed byte.
    import hashlib

    from fercourse import digests, memo

    images = np.random.default_rng(0).integers(0, 256, (37, 8, 8, 3), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    mapped = np.load(tmp_path / "images.npy", mmap_mode="r")
    monkeypatch.setattr(digests, "HASH_BLOCK", 1000)  # five images a slice
    whole = hashlib.sha256()
    whole.update(f"a{images.shape}{images.dtype.str}:".encode() + images.tobytes())
    assert memo.key_of(mapped) == memo.key_of(images) == whole.hexdigest()[:20]
    changed = images.copy()
    changed[-1, -1, -1, -1] ^= 1
    assert memo.key_of(changed) != memo.key_of(images)
    assert memo.key_of(images.astype(np.int16)) != memo.key_of(images)
    assert memo.key_of(np.float32(2.5)) == memo.key_of(2.5)  # a NumPy scalar keys as its value
    assert memo.key_of(np.array(2.5)) != memo.key_of(np.array([2.5]))  # arrays by their shape too


def test_predict_split_is_kept_per_weights_and_images(tf_keras, tmp_path, monkeypatch):
    from fercourse.data import ImageSplit
    from fercourse.data.pipeline import as_tf_dataset
    from fercourse.evaluate import predict_split

    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path))
    _, keras = tf_keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(2)
    split = ImageSplit("validation", "Validation/", [f"{i}.png" for i in range(21)],
                       (np.arange(21) % 3).astype(np.int32), rng.integers(0, 256, (21, 8, 8, 3), dtype=np.uint8))
    y_true, proba = predict_split(model, split, batch_size=8)
    expected = predict_proba(model, as_tf_dataset(split, batch_size=8))
    np.testing.assert_array_equal(y_true, expected[0])
    np.testing.assert_array_equal(proba, expected[1])

    def no_forward(*args, **kwargs):
        raise AssertionError("predicted again")

    monkeypatch.setattr(keras.Model, "predict", no_forward)
    np.testing.assert_array_equal(predict_split(model, split, batch_size=8)[1], proba)  # kept
    with pytest.raises(AssertionError, match="predicted again"):  # other images: computed
        predict_split(model, dataclasses.replace(split, images=split.images[::-1].copy()))
    dense = model.layers[-1]
    dense.set_weights([w + 1 for w in dense.get_weights()])
    with pytest.raises(AssertionError, match="predicted again"):  # other weights: computed
        predict_split(model, split)


# --- evaluation against scikit-learn ------------------------------------------------------

def _known_predictions(seed=0, n=120, classes=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    logits = rng.normal(0, 1, (n, classes))
    logits[np.arange(n), y] += 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


def test_report_numbers_equal_scikit_learn():
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, roc_auc_score
    from sklearn.preprocessing import label_binarize

    y, proba = _known_predictions()
    report = ClassificationReport(("a", "b", "c", "d"), y, proba)
    pred = proba.argmax(axis=1)
    assert report.accuracy == pytest.approx(accuracy_score(y, pred))
    assert report.macro_f1 == pytest.approx(f1_score(y, pred, average="macro"))
    np.testing.assert_allclose(report.per_class()["precision"], precision_score(y, pred, average=None))
    np.testing.assert_array_equal(report.confusion(), confusion_matrix(y, pred))
    assert report.macro_auc == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    onehot = label_binarize(y, classes=range(4))
    assert report.roc()["micro"][2] == pytest.approx(roc_auc_score(onehot, proba, average="micro"))
    for i, name in enumerate("abcd"):
        assert report.roc()[name][2] == pytest.approx(roc_auc_score(onehot[:, i], proba[:, i]))
    np.testing.assert_allclose(report.confusion("true").sum(axis=1), 1.0)


def test_displays_are_scikit_learns_underneath_and_built_from_predictions():
    import matplotlib
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay, roc_auc_score

    matplotlib.use("Agg")
    y, proba = _known_predictions(2)
    classes = ("a", "b", "c", "d")
    roc = RocDisplay.from_predictions(y, proba, classes)
    assert roc.aucs == RocDisplay.from_report(ClassificationReport(classes, y, proba), draw=False).aucs
    assert all(isinstance(d, RocCurveDisplay) for d in roc.displays_.values())
    assert roc.displays_["a"].roc_auc == pytest.approx(roc_auc_score(y == 0, proba[:, 0]))
    cm = ConfusionDisplay.from_predictions(y, proba.argmax(1), classes)
    assert [type(d) for d in cm.displays_] == [ConfusionMatrixDisplay] * 2
    np.testing.assert_array_equal(cm.displays_[0].confusion_matrix, cm.matrix)
    # a class missing from y_true: no curve for it, macro AUC over the classes present
    keep = y != 3
    missing = ClassificationReport(classes, y[keep], proba[keep])
    assert "d" not in missing.roc() and np.isfinite(missing.macro_auc)
    assert missing.macro_auc == pytest.approx(np.mean([missing.roc()[c][2] for c in "abc"]))


def test_displays_hold_the_numbers_behind_the_figures():
    import matplotlib

    matplotlib.use("Agg")
    y, proba = _known_predictions(1)
    report = ClassificationReport(("a", "b", "c", "d"), y, proba)
    roc = RocDisplay.from_report(report)
    assert roc.aucs["macro"] == pytest.approx(report.macro_auc) and len(roc.ax_.lines) == 7  # 4 + micro/macro + chance
    cm = ConfusionDisplay.from_report(report)
    np.testing.assert_array_equal(cm.matrix, report.confusion())
    np.testing.assert_allclose(cm.normalized, report.confusion("true"))
    hist = HistoryDisplay.from_history([{"epoch": 0, "loss": 2.0, "val_loss": 2.1, "accuracy": 0.2},
                                        {"epoch": 1, "loss": 1.5, "val_loss": 1.9, "accuracy": 0.4}])
    assert hist.curves["loss"] == [2.0, 1.5] and len(hist.ax_) == 2
    assert all(float(tick).is_integer() for tick in hist.ax_[0].get_xticks())


def test_history_comparison_cuts_runs_to_an_equal_budget():
    import matplotlib

    matplotlib.use("Agg")
    long = [{"epoch": i, "loss": 2.0 - 0.1 * i, "val_loss": 2.1 - 0.1 * i, "accuracy": 0.1 * i,
             "val_accuracy": 0.05 * i} for i in range(6)]
    short = [{"epoch": i, "loss": 2.0, "val_loss": 2.0, "accuracy": 0.125, "val_accuracy": 0.125}
             for i in range(3)]
    shown = HistoryComparisonDisplay.from_histories({"bn": long, "plain": short}, epochs=3)
    table = shown.table()
    assert table.loc["bn", "epochs"] == 3 and table.loc["bn", "val_accuracy"] == pytest.approx(0.10)
    assert table.loc["plain", "val_accuracy"] == pytest.approx(0.125)
    assert len(shown.ax_) == 2 and len(shown.ax_[1].lines) == 4  # 2 runs x train/validation
    assert all(float(tick).is_integer() for tick in shown.ax_[0].get_xticks())  # whole epochs
    full = HistoryComparisonDisplay.from_histories({"bn": long, "plain": short}, draw=False)
    assert full.table().loc["bn", "epochs"] == 6


def test_every_display_follows_one_convention():
    """scikit-learn's: ``from_*`` draws unless ``draw=False``; ``plot(ax=...)`` draws into the
    caller's axes; ``figure_`` and ``ax_`` are set; a wrong number of axes is refused."""
    import matplotlib
    import matplotlib.pyplot as plt

    from fercourse.cam import CamGridDisplay, pick_examples
    from fercourse.evaluate import CrossValidation, CrossValidationDisplay
    from fercourse.evaluate.crossval import FoldResult
    from fercourse.evaluate.regression import RegressionReport, ValenceArousalDisplay
    from fercourse.photos import FacePrediction, PhotoDisplay

    matplotlib.use("Agg")
    y, proba = _known_predictions(1)
    classes = ("a", "b", "c", "d")
    report = ClassificationReport(classes, y, proba)
    records = [{"epoch": 0, "loss": 2.0, "accuracy": 0.2}, {"epoch": 1, "loss": 1.5, "accuracy": 0.4}]
    rng = np.random.default_rng(0)
    images, maps = rng.uniform(0, 1, (len(y), 8, 8, 3)), rng.uniform(0, 1, (len(y), 8, 8))
    examples = pick_examples(y, proba, per_class=1)
    va = RegressionReport(rng.uniform(-1, 1, (len(y), 2)), rng.uniform(-1, 1, (len(y), 2)))
    folds = CrossValidation(classes, [FoldResult(i, np.arange(len(y)), report, "trained", 1.0) for i in (1, 2)],
                            "2-fold")
    makers = {  # display -> (from_* with its data, number of axes it draws into)
        "roc": (lambda **kw: RocDisplay.from_report(report, **kw), 1),
        "confusion": (lambda **kw: ConfusionDisplay.from_report(report, **kw), 2),
        "history": (lambda **kw: HistoryDisplay.from_history(records, **kw), 2),
        "comparison": (lambda **kw: HistoryComparisonDisplay.from_histories({"r": records}, **kw), 2),
        "cam grid": (lambda **kw: CamGridDisplay.from_examples(images, maps, y, proba, examples, classes, **kw),
                     len(classes) * 2),
        "valence/arousal": (lambda **kw: ValenceArousalDisplay.from_report(va, y, classes, **kw), 3),
        "photo": (lambda **kw: PhotoDisplay.from_predictions(
            (images[0] * 255).astype(np.uint8), [FacePrediction(None, 0, [1, 1, 4, 4], label="a",
                                                                probabilities={"a": 0.9})], **kw), 1),
        "cross-validation": (lambda **kw: CrossValidationDisplay.from_result(folds, **kw), 2),
    }
    for name, (make, count) in makers.items():
        before = plt.get_fignums()
        quiet = make(draw=False)
        assert plt.get_fignums() == before and not hasattr(quiet, "figure_"), name
        shown = make()
        assert len(plt.get_fignums()) == len(before) + 1 and shown.figure_.number == plt.get_fignums()[-1], name
        assert np.size(shown.ax_) == count, name
        fig, axes = plt.subplots(1, count, squeeze=False)
        into = quiet.plot(ax=axes[0] if count > 1 else axes[0, 0])
        assert into is quiet and into.figure_ is fig and len(plt.get_fignums()) == len(before) + 2, name
        assert all(ax.has_data() or ax.texts or ax.images for ax in axes.ravel()), name
        with pytest.raises(ValueError, match=f"needs .* axes, got {count + 1}"):
            quiet.plot(ax=plt.subplots(1, count + 1)[1])
        plt.close("all")


# --- training, store, resume ----------------------------------------------------------------

def _tiny_task(tf, n=64, seed=0):
    """Two separable classes of 16x16 images (bright vs dark centre)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype("int32")
    x = rng.uniform(0, 0.5, (n, 16, 16, 3)).astype("float32")
    x[y == 1, 5:11, 5:11] += 0.5
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    return ds, x, y


def _tiny_model(keras):
    return keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(2, activation="softmax", dtype="float32")])


def test_training_reduces_loss_and_the_store_round_trips(tf_keras, tmp_path):
    tf, keras = tf_keras
    ds, x, _ = _tiny_task(tf)
    store = ModelStore(tmp_path / "store")
    config = TrainConfig(epochs=6, learning_rate=1e-2, patience=10)
    first = train("tiny", lambda: _tiny_model(keras), ds, ds, config, data_fingerprint="t", store=store, verbose=0)
    losses = [r["loss"] for r in first.history]
    assert not first.from_store and len(losses) == 6 and losses[-1] < losses[0]
    second = train("tiny", lambda: _tiny_model(keras), ds, ds, config, data_fingerprint="t", store=store, verbose=0)
    assert second.from_store and second.history == first.history
    np.testing.assert_allclose(np.asarray(second.model(x)), np.asarray(first.model(x)), rtol=1e-6)
    other = store.entry("tiny", config={"epochs": 7})
    assert other.folder != first.entry.folder and not other.complete()
    assert json.loads(first.entry.meta_path.read_text())["complete"] is True


def test_the_starting_point_is_computed_before_training_only(tf_keras, tmp_path):
    # A costly starting point (the GAP head's logistic regression) is set before training and
    # skipped when the stored run is loaded: a warm chapter does not fit it again.
    tf, keras = tf_keras
    ds, _, _ = _tiny_task(tf)
    store = ModelStore(tmp_path / "store")
    config = TrainConfig(epochs=1, learning_rate=1e-2)
    started = []

    def initialize(model):
        dense = model.layers[-1]
        dense.set_weights([np.zeros_like(w) for w in dense.get_weights()])
        started.append(np.asarray(model.predict(ds, verbose=0)))

    def run(**kwargs):
        return train("tiny", lambda: _tiny_model(keras), ds, ds, config, data_fingerprint="t", store=store,
                     verbose=0, initialize=initialize, **kwargs)

    first = run()
    assert len(started) == 1 and not first.from_store
    np.testing.assert_allclose(started[0], 0.5)  # it ran on the built model, before any training step
    assert run().from_store and len(started) == 1
    assert not run(force=True).from_store and len(started) == 2


def test_an_interrupted_run_resumes_and_completes_every_epoch(tf_keras, tmp_path):
    tf, keras = tf_keras
    ds, _, _ = _tiny_task(tf)
    store = ModelStore(tmp_path / "store")
    config = TrainConfig(epochs=5, learning_rate=1e-2, patience=10)

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 3:
                raise KeyboardInterrupt("simulated kill during epoch 3")

    with pytest.raises(KeyboardInterrupt):
        train("resume", lambda: _tiny_model(keras), ds, ds, config, data_fingerprint="t", store=store,
              extra_callbacks=[Crash()], verbose=0)
    (folder,) = [f for f in store.root.iterdir() if f.name.startswith("resume-")]
    interrupted = json.loads((folder / "history.json").read_text())
    assert [r["epoch"] for r in interrupted] == [0, 1, 2]  # killed before epoch 3 finished
    assert (folder / "backup").exists() and not (folder / "meta.json").exists()
    class Record(keras.callbacks.Callback):
        ran = []

        def on_epoch_begin(self, epoch, logs=None):
            self.ran.append(epoch)

    done = train("resume", lambda: _tiny_model(keras), ds, ds, config, data_fingerprint="t", store=store,
                 extra_callbacks=[Record()], verbose=0)
    assert Record.ran == [3, 4]  # resumed where the kill happened, not from epoch 0
    assert [r["epoch"] for r in done.history] == [0, 1, 2, 3, 4]
    assert not done.from_store and done.entry.complete()
    assert not done.entry.backup_dir.exists()  # the backup is removed once the entry is complete
    assert done.entry.folder == folder


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    code = """
import numpy as np
from fercourse.env import import_tensorflow
from fercourse.session import configure_process
from fercourse.train import TrainConfig, ModelStore, get_strategy, train
print(configure_process())  # the process-wide choice of logical devices, as the command line makes it
tf, keras = import_tensorflow()
strategy = get_strategy("mirrored")
x = np.random.default_rng(0).uniform(0, 1, (32, 8, 8, 3)).astype("float32"); y = (x.mean((1, 2, 3)) > 0.5).astype("int32")
ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
build = lambda: keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
result = train("mirror", build, ds, ds, TrainConfig(epochs=2), data_fingerprint="m", store=ModelStore(), strategy=strategy, verbose=0)
print("replicas", strategy.num_replicas_in_sync, "epochs", len(result.history))
"""
    env = {**os.environ, "FERCOURSE_LOGICAL_CPUS": "2", "FERCOURSE_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "replicas 2 epochs 2" in done.stdout and "2 logical CPUs" in done.stdout


def test_bfloat16_is_not_worse_than_float32_beyond_noise(tmp_path):
    """Same tiny task under both policies (in subprocesses: a policy is process-wide)."""
    code = """
import sys, numpy as np
from fercourse.env import import_tensorflow
tf, keras = import_tensorflow()
keras.config.set_dtype_policy(sys.argv[1]); keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
def task(n):
    y = rng.integers(0, 2, n).astype("int32"); x = rng.uniform(0, 0.5, (n, 16, 16, 3)).astype("float32")
    x[y == 1, 5:11, 5:11] += 0.3
    return x, y
(xt, yt), (xv, yv) = task(256), task(128)
m = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(8, 3, activation="relu"),
                      keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax", dtype="float32")])
m.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
m.fit(xt, yt, epochs=15, batch_size=32, verbose=0)
print("ACC", m.evaluate(xv, yv, verbose=0)[1])
"""
    acc = {}
    for policy in ("float32", "mixed_bfloat16"):
        done = subprocess.run([sys.executable, "-c", code, policy], capture_output=True, text=True, timeout=600,
                              env={**os.environ, "FERCOURSE_CACHE": str(tmp_path)})
        assert done.returncode == 0, done.stderr[-2000:]
        acc[policy] = float(done.stdout.split("ACC")[1])
    assert acc["float32"] > 0.8, acc  # the task is learnable
    assert acc["mixed_bfloat16"] >= acc["float32"] - 0.1, acc


def test_comparison_table_columns(tf_keras, monkeypatch):
    import itertools

    from fercourse.evaluate import comparison_table
    from fercourse import timings

    _, keras = tf_keras
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(64)])
    y, proba = _known_predictions(2)
    # A clock that advances 2.5 ms per reading: every timed forward pass "takes" 2.5 ms.
    ticks = itertools.count()
    monkeypatch.setattr(timings.time, "perf_counter", lambda: next(ticks) * 0.0025)
    table = comparison_table([{"model": "m", "keras": model, "report": ClassificationReport(tuple("abcd"), y, proba)}],
                             image_size=16)
    row = table.loc["m"]
    assert row["parameters"] == 16 * 16 * 3 * 64 + 64 == row["trained"]
    assert row["weights MB"] == pytest.approx(row["parameters"] * 4 / 1e6, abs=0.01)  # float32 + HDF5 overhead
    assert row["ms / image"] == 2.5
    summary = ClassificationReport(tuple("abcd"), y, proba).summary()
    assert row["accuracy"] == round(summary["accuracy"], 3) and row["macro-AUC"] == round(summary["macro-AUC"], 3)
    report = ClassificationReport(tuple("abcd"), y, proba)
    described = comparison_table([{"model": "m", "keras": model, "report": report, "trained": 7, "weights": "w",
                                   "epochs": "3 + 2", "seconds": 12.4}], image_size=16, timings=False).loc["m"]
    assert described["trained"] == 7 and described["weights"] == "w" and described["epochs"] == "3 + 2"
    assert described["training s"] == 12 and "ms / image" not in described


def test_backbone_features_are_cached_on_disk(tf_keras, tmp_path):
    from fercourse.train.features import backbone_features

    _, keras = tf_keras
    net = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3)])
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    first = backbone_features(net, images, key={"data": "x"}, batch_size=2)
    assert first.shape == (5, 6, 6, 2)
    np.testing.assert_allclose(first, np.asarray(net(images / 255.0)), rtol=1e-5, atol=1e-6)

    class Exploding:
        def predict(self, *a, **k):
            raise AssertionError("recomputed although cached")

    np.testing.assert_array_equal(backbone_features(Exploding(), images, key={"data": "x"}), first)
    flip = lambda x, training=False: x[:, :, ::-1]  # noqa: E731 - a deterministic "augmentation"
    flipped = backbone_features(net, images, key={"data": "x", "copy": 1}, augment=flip)
    np.testing.assert_allclose(flipped, np.asarray(net(images[:, :, ::-1] / 255.0)), rtol=1e-5, atol=1e-6)


def test_feature_extraction_says_what_it_computes_when_asked(tf_keras, tmp_path, capfd, monkeypatch):
    from fercourse.train.features import backbone_features

    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path))  # nothing cached yet

    _, keras = tf_keras
    net = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3)])
    images = np.zeros((4, 8, 8, 3), np.uint8)
    backbone_features(net, images, key={"data": "quiet", "part": "block5"})
    assert "computing" not in capfd.readouterr().err  # not a terminal: silent by default
    backbone_features(net, images, key={"data": "loud", "part": "block5"}, batch_size=2, progress=True)
    captured = capfd.readouterr()
    assert "computing block5 features of 4 images (once: cached afterwards)" in captured.err
    assert "2/2" in captured.out  # Keras' progress bar over the batches


def test_weights_size_counts_the_weights_not_the_optimizer_state(tf_keras):
    from fercourse.evaluate import weights_megabytes

    tf, keras = tf_keras
    ds, _, _ = _tiny_task(tf)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(256),
                              keras.layers.BatchNormalization(), keras.layers.Dense(2, activation="softmax")])
    before = weights_megabytes(model)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(ds, epochs=1, verbose=0)  # Adam now holds two more values per weight
    assert weights_megabytes(model) == pytest.approx(before, rel=1e-3)
    # float32 weights incl. the batch-norm statistics, plus a few kB of HDF5 bookkeeping
    assert before == pytest.approx(model.count_params() * 4 / 1e6, rel=0.03)


def test_the_seed_fixes_the_initial_weights(tf_keras, tmp_path):
    tf, keras = tf_keras
    ds, _, _ = _tiny_task(tf)
    config = TrainConfig(epochs=1)
    starts = []

    class Snapshot(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            starts.append([w.copy() for w in self.model.get_weights()])

    for run in range(2):
        np.random.default_rng(run).normal(size=10)
        keras.random.normal((3,))  # disturb the global RNG state between the runs
        train(f"seeded{run}", lambda: _tiny_model(keras), ds, ds, config, data_fingerprint="s",
              store=ModelStore(tmp_path / "store"), extra_callbacks=[Snapshot()], verbose=0)
    for a, b in zip(*starts):
        np.testing.assert_array_equal(a, b)


def test_imagenet_weights_are_preferred_and_loaded_through_keras_itself(tf_keras, monkeypatch, tmp_path):
    import h5py
    from keras.src.applications import vgg16 as keras_vgg16
    from keras.src.legacy.saving import legacy_h5_format

    from fercourse import pretrained

    # Stand-in for Keras' cached ImageNet file (the real one is 58 MB and checked against a published
    # hash): another backbone's weights in the same legacy HDF5 layout, under KERAS_HOME/models.
    source, _ = pretrained.vgg16_backbone((32, 32, 3), weights="random")
    path = tmp_path / "keras" / "models" / pretrained.KERAS_NOTOP_FILE
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, source)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    asked = []
    monkeypatch.setattr(keras_vgg16.file_utils, "get_file",
                        lambda fname, *a, **k: asked.append(fname) or str(path))
    monkeypatch.setattr(pretrained, "_imagenet_unreachable", False)
    backbone, info = pretrained.vgg16_backbone((32, 32, 3), weights="auto", log=lambda *a: None)
    assert asked == [pretrained.KERAS_NOTOP_FILE]  # Keras' own VGG16(weights="imagenet") asked for it
    assert info.source == "imagenet" and info.pretrained and "Keras cache" in info.description
    from fercourse import atomic

    assert info.sha256 == atomic.sha256(path)
    for layer in (layer for layer in backbone.layers if layer.weights):
        for got, want in zip(layer.get_weights(), source.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(got, want)


def _blob_task(n_per_class=24, classes=8, size=32, seed=0):
    """Images whose class is the position of a bright square: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.3, (n_per_class * classes, size, size, 3)).astype("float32")
    y = np.repeat(np.arange(classes), n_per_class).astype("int32")
    for i, c in enumerate(y):
        r, col = divmod(int(c), 4)
        x[i, 4 + 12 * r: 12 + 12 * r, 2 + 7 * col: 7 + 7 * col] += 0.6
    return x, y


@pytest.mark.parametrize("batch_norm", [True, False])
def test_a_trained_light_vgg_scores_in_inference_what_training_reported(tf_keras, tmp_path, batch_norm):
    """The invariant that exposed the batch-norm bug: with Keras' default momentum (0.99) and
    ~30 steps, the moving statistics stayed near their start and inference accuracy on the
    very training images fell far below what the progress bar showed."""
    from fercourse.models import light_vgg

    tf, keras = tf_keras
    x, y = _blob_task()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=0).batch(16)
    build = lambda: light_vgg(8, batch_norm=batch_norm, dropout=0.0, input_size=32)  # noqa: E731
    config = TrainConfig(epochs=4, learning_rate=1e-3, patience=10, augment=False)
    run = train("invariant", build, ds, ds.take(1), config, data_fingerprint="blobs", store=ModelStore(tmp_path),
                verbose=0)
    reported = run.history[-1]["accuracy"]
    inference = float(np.mean(np.asarray(run.model.predict(x, verbose=0)).argmax(1) == y))
    assert reported > 0.5, f"the task should be learnable in 4 epochs (reported {reported:.2f})"
    assert inference >= reported - 0.15, f"inference {inference:.2f} vs reported {reported:.2f}"


# --- valence/arousal metrics --------------------------------------------------------------------

def test_regression_metrics_against_hand_computed_values_and_the_mean_predictor():
    from fercourse.evaluate.regression import RegressionReport, ccc, pearson, rmse, sagr

    y = np.array([0.5, -0.5, 0.25, -0.25])
    p = np.array([0.4, -0.2, 0.3, 0.1])
    assert rmse(y, p) == pytest.approx(np.sqrt((0.01 + 0.09 + 0.0025 + 0.1225) / 4))
    assert sagr(y, p) == 0.75  # the last sample has the wrong sign
    # Lin's CCC by hand: means 0 and 0.15, variances 0.15625 and 0.0525, covariance 0.35 / 4 = 0.0875
    assert ccc(y, p) == pytest.approx(2 * 0.0875 / (0.15625 + 0.0525 + 0.15 ** 2))
    assert pearson(y, p) == pytest.approx(0.0875 / np.sqrt(0.15625 * 0.0525))
    assert ccc(y, y) == pytest.approx(1.0) and ccc(y, 2 * y) < pearson(y, 2 * y) == pytest.approx(1.0)
    y2 = np.stack([y, -y], axis=1)
    mean = RegressionReport.mean_predictor(np.array([[0.1, 0.2], [0.3, 0.0]]), y2).table()
    assert (mean["CCC"] == 0).all() and (mean["Pearson"] == 0).all()
    assert mean.loc["valence", "RMSE"] == pytest.approx(rmse(y, np.full(4, 0.2)))
    both = RegressionReport(y2, np.stack([p, -p], axis=1)).against(RegressionReport.mean_predictor(y2, y2))
    assert list(both.index.get_level_values(0)) == ["valence", "valence", "arousal", "arousal"]
    assert both.loc[("valence", "model"), "CCC"] == pytest.approx(ccc(y, p))


def test_one_iterator_keeps_every_epoch_a_full_reshuffled_pass(tf_keras, tmp_path):
    from fercourse.train.fit import one_iterator

    tf, keras = tf_keras
    x = np.arange(40, dtype="float32").reshape(40, 1)
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(40, "int32"))).shuffle(40, seed=1).batch(16)
    repeated, steps = one_iterator(ds)
    assert steps == 3  # 16 + 16 + 8: the short last batch stays in its epoch
    seen = [np.sort(np.concatenate([b[0].numpy().ravel() for b in repeated.take(steps * 3)][i * 3:(i + 1) * 3]))
            for i in range(3)]
    for epoch in seen:
        np.testing.assert_array_equal(epoch, x.ravel())  # every sample exactly once a pass
    orders = [np.concatenate([b[0].numpy().ravel() for b in list(repeated.take(9))[i * 3:(i + 1) * 3]])
              for i in range(2)]
    assert not np.array_equal(orders[0], orders[1])  # and a new order each pass
    assert one_iterator(ds.repeat())[1] is None  # infinite: the caller's epochs stand
    assert one_iterator([1, 2])[1] is None

    class Count(keras.callbacks.Callback):  # optimizer steps at each epoch's end
        steps = []

        def on_epoch_end(self, epoch, logs=None):
            self.steps.append(int(self.model.optimizer.iterations.numpy()))

    small, _, _ = _tiny_task(tf, n=40)
    train("count", lambda: _tiny_model(keras), small, small, TrainConfig(epochs=3, patience=10),
          data_fingerprint="t", store=ModelStore(tmp_path / "store"), extra_callbacks=[Count()], verbose=0)
    assert Count.steps == [3, 6, 9]  # 3 steps an epoch (run as one call of 3), none past its end


def test_several_steps_per_call_divide_the_epoch_and_train_the_same_weights(tf_keras):
    from fercourse.train.fit import one_iterator, steps_per_execution
    from fercourse.train.fused_adam import adam

    tf, keras = tf_keras
    assert [steps_per_execution(n) for n in (None, 0, 1, 7, 40, 135, 12)] == [1, 1, 1, 7, 8, 5, 6]
    assert steps_per_execution(13, most=8) == 1  # a prime: one step per call, never past the epoch
    x = np.random.default_rng(0).random((60, 8, 8, 3)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("int32")
    weights = {}
    for per_call in (1, 5):
        keras.utils.set_random_seed(0)
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(60, seed=0).batch(6)
        repeated, steps = one_iterator(ds)
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                                  keras.layers.Flatten(), keras.layers.Dropout(0.5), keras.layers.Dense(2)])
        model.compile(adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      steps_per_execution=per_call)
        model.fit(repeated, epochs=3, steps_per_epoch=steps, verbose=0, shuffle=False)
        assert int(model.optimizer.iterations.numpy()) == 3 * steps
        weights[per_call] = model.get_weights()
    for one, five in zip(weights[1], weights[5]):  # same steps, same order, same dropout draws
        np.testing.assert_array_equal(one, five)


def test_show_as_jpeg_displays_a_jpeg_and_closes_the_figure(monkeypatch):
    import matplotlib
    import matplotlib.pyplot as plt
    from IPython import display as ipd

    from fercourse.figures import show_as_jpeg

    matplotlib.use("Agg")
    shown = []
    monkeypatch.setattr(ipd, "display", lambda obj: shown.append(obj))
    fig, ax = plt.subplots()
    ax.imshow(np.random.default_rng(0).uniform(size=(64, 64, 3)))
    show_as_jpeg(fig)
    assert not plt.fignum_exists(fig.number)
    (image,) = shown
    assert image.format == "jpeg" and image.data[:3] == b"\xff\xd8\xff"  # the JPEG marker
