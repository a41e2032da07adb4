"""Reliability: crash-safe writes, resumable training, determinism, bad input end to end, an
untouched data folder, the cache command, safe loading and bounded memory.

Each test is written to fail on the bug it names (a file published 0600, a half-written
entry read as valid, a policy that leaks, an ``evaluate`` that trains, ...).
"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fercourse import __main__ as cli
from fercourse import atomic, paths
from fercourse.classes import AFFECTNET_CLASSES

REPO = Path(__file__).resolve().parents[1]


def _tree(root: Path, per_class=(3, 1), classes=AFFECTNET_CLASSES, size=64, mode="RGB", splits=("Train", "Validation")):
    rng = np.random.default_rng(0)
    for split, n in zip(splits, per_class):
        for ci, cls in enumerate(classes):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = (rng.integers(0, 60, (size, size, 3)) + ci * 25).astype("uint8")
                image = Image.fromarray(pixels)
                (image.convert("L") if mode == "L" else image).save(folder / f"{i}.png")
    return root


def _digest(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("FERCOURSE_CACHE", str(folder))
    monkeypatch.delenv("FERCOURSE_DATA", raising=False)
    monkeypatch.delenv("FERCOURSE_POLICY", raising=False)
    return folder


# --- atomic publishing ------------------------------------------------------------------------

def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_published_files_and_folders_get_the_users_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        assert _mode(atomic.write_text(tmp_path / "report.pdf", "x")) == 0o644  # mkstemp alone: 0600
        os.umask(0o027)
        assert _mode(atomic.write_text(tmp_path / "b.txt", "x")) == 0o640
        with atomic.publish_dir(tmp_path / "entry") as folder:
            (folder / "f.npy").write_bytes(b"1")
        assert _mode(tmp_path / "entry") == 0o750 and _mode(tmp_path / "entry" / "f.npy") == 0o640
    finally:
        os.umask(old)


def test_concurrent_writers_of_one_file_never_mix_their_bytes(tmp_path):
    target = tmp_path / "shared.bin"
    payloads = [bytes([i]) * 300_000 for i in range(12)]
    threads = [threading.Thread(target=atomic.write_bytes, args=(target, p)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_bytes() in payloads  # one whole version, not a mixture
    assert [p.name for p in tmp_path.iterdir()] == ["shared.bin"]  # no temporary left behind
    names = {atomic.temporary_name(tmp_path / "model.weights.h5").name for _ in range(50)}
    assert len(names) == 50 and all(n.endswith(".weights.h5") for n in names)  # unique, Keras-legal


def test_a_kill_during_a_write_keeps_the_old_file_and_publishes_nothing(tmp_path):
    target = tmp_path / "features.npy"
    np.save(target, np.arange(4))
    atomic.checksum(target)
    code = textwrap.dedent(f"""
        import os, signal
        from fercourse import atomic
        with atomic.publish({str(target)!r}) as tmp:
            with open(tmp, "wb") as handle:
                handle.write(b"half of a new file")
                handle.flush()
                os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True)
    assert done.returncode == -signal.SIGKILL
    np.testing.assert_array_equal(np.load(target), np.arange(4))
    assert atomic.verify(target)
    # A file published without its checksum (a kill between the two writes) is not trusted.
    atomic.write_bytes(target, b"new content")
    assert not atomic.verify(target)


def test_damaged_features_are_recomputed_not_read(tf_keras, cache):
    from fercourse.train.features import backbone_features

    _, keras = tf_keras
    net = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3)])
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    first = backbone_features(net, images, key={"data": "d"})
    (path,) = (cache / "features").glob("*.npy")
    path.write_bytes(path.read_bytes()[:100])  # cut short, as by a full disk or a kill elsewhere
    calls = []

    class Counting:
        def predict(self, *args, **kwargs):
            calls.append(1)
            return net.predict(*args, **kwargs)

    again = backbone_features(Counting(), images, key={"data": "d"})
    assert calls == [1]
    np.testing.assert_array_equal(again, first)
    assert atomic.verify(path)


def test_a_damaged_decoded_cache_is_decoded_again(cache, tmp_path):
    from fercourse.data import load_dataset

    root = _tree(tmp_path / "data", per_class=(2, 1))
    first = np.array(load_dataset(root, image_size=16, log=lambda *a: None)["train"].images)
    (folder,) = [p for p in (cache / "decoded").iterdir() if not p.name.startswith(".")]  # not the lock;
    # a copy above: cutting a mapped file short would crash its reader (SIGBUS)
    images = folder / "train.images.npy"
    images.write_bytes(images.read_bytes()[:-500])
    again = load_dataset(root, image_size=16, log=lambda *a: None)
    np.testing.assert_array_equal(np.asarray(again["train"].images), first)
    assert images.stat().st_size == json.loads((folder / "meta.json").read_text())["bytes"][images.name]


def _side_by_side(work, n=2):
    """Run ``work()`` in ``n`` threads released at the same moment; their results, in order.

    flock() locks belong to an open file, so threads of one process exclude each other just as
    the report's two kernel processes do."""
    start, results = threading.Barrier(n), [None] * n

    def run(i):
        start.wait()
        results[i] = work()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_processes_needing_the_same_features_compute_them_once(cache):
    from fercourse.train import features

    calls = []

    def compute():  # slow enough that the second caller arrives while the first computes
        calls.append(1)
        time.sleep(0.5)
        return np.arange(12, dtype=np.float32).reshape(3, 4)

    first, second = _side_by_side(lambda: features._kept({"data": "same"}, compute))
    assert len(calls) == 1
    np.testing.assert_array_equal(first, second)
    (path,) = (cache / "features").glob("*.npy")
    assert atomic.verify(path)


def test_two_processes_needing_the_same_result_compute_it_once(cache):
    from fercourse import memo

    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.5)
        return b"result"

    assert _side_by_side(lambda: memo.cached_bytes("same", (1, "a"), compute)) == [b"result"] * 2
    assert len(calls) == 1


def test_two_processes_loading_the_same_folder_decode_it_once(cache, tmp_path, monkeypatch):
    from fercourse.data import dataset as dataset_module
    from fercourse.data import decoded

    root = _tree(tmp_path / "data", per_class=(2, 1))
    builds, real = [], decoded.build

    def slow_build(*args, **kwargs):
        builds.append(1)
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(decoded, "build", slow_build)
    loaded = _side_by_side(lambda: dataset_module.load_dataset(root, image_size=16, log=lambda *a: None))
    assert len(builds) == 1
    np.testing.assert_array_equal(np.asarray(loaded[0]["train"].images), np.asarray(loaded[1]["train"].images))


# --- the model store and checkpoints -----------------------------------------------------------

def _tiny(tf, keras):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 48).astype("int32")
    x = rng.uniform(0, 0.5, (48, 16, 16, 3)).astype("float32")
    x[y == 1, 5:11, 5:11] += 0.5
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    build = lambda: keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu"),  # noqa: E731
                                      keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")])
    return ds, build


def test_a_damaged_store_entry_is_not_complete_and_is_trained_again(tf_keras, tmp_path):
    from fercourse.train import ModelStore, TrainConfig, train

    tf, keras = tf_keras
    ds, build = _tiny(tf, keras)
    store, config = ModelStore(tmp_path / "store"), TrainConfig(epochs=2, patience=5)
    first = train("tiny", build, ds, ds, config, data_fingerprint="t", store=store, verbose=0)
    assert first.entry.complete()
    weights = first.entry.weights_path
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # half-written
    assert not first.entry.complete()
    with pytest.raises(RuntimeError, match="no complete, verified weights"):
        first.entry.load_into(build())
    again = train("tiny", build, ds, ds, config, data_fingerprint="t", store=store, verbose=0)
    assert not again.from_store and again.entry.complete()
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF  # one flipped byte: the checksum catches what a size check would not
    weights.write_bytes(bytes(data))
    assert not again.entry.complete()


def test_backups_that_do_not_verify_are_ignored_and_the_best_loss_survives_a_restart(tf_keras, tmp_path):
    from fercourse.train.checkpoints import BestCheckpoint, EpochBackup

    tf, keras = tf_keras
    _, build = _tiny(tf, keras)
    model = build()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    backup, best = EpochBackup(tmp_path / "backup"), BestCheckpoint(tmp_path)
    backup_cb, best_cb = backup.callback(), best.callback()
    for cb in (backup_cb, best_cb):
        cb.set_model(model)
    best_cb.on_train_begin()
    for epoch, loss in enumerate([0.9, 0.5, 0.7]):
        backup_cb.on_epoch_end(epoch)
        best_cb.on_epoch_end(epoch, {"val_loss": loss})
    assert backup.restore(build_compiled := build(), log=lambda *a: None) == 3 and build_compiled is not None
    assert best.best() == 0.5 and json.loads(best.state_path.read_text())["epoch"] == 2
    restarted = best.callback()
    restarted.set_model(model)
    restarted.on_train_begin()
    restarted.on_epoch_end(3, {"val_loss": 0.6})  # worse than before the restart: not kept
    assert best.best() == 0.5
    (weights,) = backup.folder.glob("epoch-*.weights.h5")
    weights.write_bytes(weights.read_bytes()[:200])
    notes = []
    assert backup.restore(build(), log=notes.append) == 0 and "does not verify" in notes[0]


def test_a_best_epoch_links_the_backup_file_and_outlives_its_deletion(tf_keras, tmp_path):
    from fercourse.train.checkpoints import BestCheckpoint, EpochBackup

    tf, keras = tf_keras
    _, build = _tiny(tf, keras)
    model = build()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    backup = EpochBackup(tmp_path / "backup")
    best = BestCheckpoint(tmp_path, backup=backup)
    callbacks = [backup.callback(), best.callback()]  # the order fit() uses
    for cb in callbacks:
        cb.set_model(model)
    callbacks[1].on_train_begin()
    for epoch, loss in enumerate([0.9, 0.5, 0.7]):
        model.layers[-1].kernel.assign(model.layers[-1].kernel + 1.0)  # new weights every epoch
        for cb in callbacks:
            cb.on_epoch_end(epoch, {"val_loss": loss})
        if epoch == 1:
            expected = [w.numpy() for w in model.weights]
            assert best.weights_path.stat().st_ino == backup.last[1].stat().st_ino  # one file, two names
    shutil.rmtree(backup.folder)  # what fit() does once the entry is complete
    assert best.exists() and json.loads(best.state_path.read_text())["epoch"] == 2
    fresh = build()
    fresh.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    best.load_into(fresh)
    for got, want in zip(fresh.weights, expected):
        np.testing.assert_array_equal(got.numpy(), want)


# --- policy -----------------------------------------------------------------------------------

def test_a_recipe_does_not_leak_its_policy(tf_keras):
    from fercourse import recipes
    from fercourse.train import policy_scope
    from fercourse.train.policy import scoped_policy

    _, keras = tf_keras
    keras.config.set_dtype_policy("float32")

    @scoped_policy
    def build(policy=None):
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])

    model = build(policy="mixed_bfloat16")
    assert model.layers[0].dtype_policy.name == "mixed_bfloat16"  # built under the asked policy
    assert keras.config.dtype_policy().name == "float32"  # and the global one is back
    with pytest.raises(ZeroDivisionError):
        with policy_scope("mixed_float16"):
            1 / 0
    assert keras.config.dtype_policy().name == "float32"  # also after an error
    for name in dir(recipes):
        if name.startswith("train_"):
            assert hasattr(getattr(recipes, name), "__wrapped__"), f"{name} is not policy-scoped"


# --- pretrained weights -----------------------------------------------------------------------

def test_a_corrupt_cached_imagenet_file_is_named_and_no_global_timeout_is_set(tf_keras, monkeypatch, tmp_path):
    from keras.src.applications import vgg16 as keras_vgg16

    from fercourse import pretrained
    from fercourse.errors import WeightsError

    path = tmp_path / "keras" / "models" / pretrained.KERAS_NOTOP_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x89HDF\r\n" + b"\x00" * 100)  # a truncated download
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    seen_timeouts = []

    def get_file(*args, **kwargs):
        seen_timeouts.append(socket.getdefaulttimeout())
        return str(path)

    monkeypatch.setattr(keras_vgg16.file_utils, "get_file", get_file)
    monkeypatch.setattr(pretrained, "_imagenet_unreachable", False)
    with pytest.raises(WeightsError, match=r"cached ImageNet VGG16 weights .* cannot be used \((OSError|.*Error)"):
        pretrained.vgg16_backbone((32, 32, 3), weights="auto", log=lambda *a: None)
    assert seen_timeouts == [None]  # the process-wide socket default is never touched


def test_no_network_falls_through_to_the_next_source_with_the_reason(tf_keras, monkeypatch, tmp_path):
    from fercourse import pretrained

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no cached file
    monkeypatch.setattr(pretrained, "_imagenet_unreachable", False)

    def refuse(address, timeout=None):
        assert timeout == pretrained.PROBE_SECONDS  # a timeout on this connection only
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(pretrained.socket, "create_connection", refuse)
    notes = []
    _, info = pretrained.vgg16_backbone((32, 32, 3), weights="auto", log=notes.append)
    assert info.source == "hed-bsds500" and "no network" in " ".join(notes)
    assert "Name or service not known" in " ".join(notes).replace("\n", " ")
    assert socket.getdefaulttimeout() is None
    assert "setdefaulttimeout" not in Path(pretrained.__file__).read_text()


# --- the command line: evaluate never trains; bad input is one paragraph -------------------------

def test_evaluate_never_trains_and_says_what_is_stored(cache, tmp_path, capsys, monkeypatch):
    # float32: a barely trained model's probabilities are near ties, which bfloat16 rounding
    # can break differently in the command line's batches and in the check below
    monkeypatch.setenv("FERCOURSE_POLICY", "float32")
    root = _tree(tmp_path / "data")
    before = _digest(root)
    args = ["light_vgg", "--data", str(root), "--batch-size", "8"]
    assert cli.main(["train", *args, "--epochs", "2"]) == 0
    capsys.readouterr()
    entries = sorted(p.name for p in (cache / "models").iterdir())
    assert cli.main(["evaluate", *args, "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "never trains" in err and "epochs 2 (ran 2)" in err
    assert f"python -m fercourse train light_vgg --data {root} --epochs 3 --batch-size 8" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in (cache / "models").iterdir()) == entries  # nothing trained, nothing made

    assert cli.main(["evaluate", *args, "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 epochs asked, 2 run" in out and "store entry:" in out and "He initialisation" in out
    printed = float(re.search(r"^  accuracy\s+([0-9.]+)$", out, re.M).group(1))
    # The same number, computed here without the command line: the stored weights, predicted anew.
    from sklearn.metrics import accuracy_score

    from fercourse.data import load_dataset
    from fercourse.models import light_vgg
    from fercourse.train import ModelStore

    data = load_dataset(root, log=lambda *a: None)
    (entry,) = ModelStore().entries("light_vgg_plain")
    from fercourse.train.policy import policy_scope

    with policy_scope(entry.ingredients["policy"]):
        model = light_vgg(len(data.classes))
    entry.load_into(model)
    predicted = model.predict(np.asarray(data["validation"].images, np.float32) / 255.0, verbose=0).argmax(1)
    assert printed == pytest.approx(accuracy_score(data["validation"].labels, predicted), abs=5e-5)
    assert cli.main(["cache"]) == 0
    assert _digest(root) == before  # train, evaluate and cache never write into the data folder


def test_a_bad_weights_file_is_a_clear_error(cache, tmp_path, capsys):
    root = _tree(tmp_path / "data", per_class=(2, 1))
    junk = tmp_path / "my_vgg.h5"
    junk.write_text("not weights")
    base = ["train", "vgg16", "--data", str(root), "--epochs", "1", "--fine-tune", "0"]
    assert cli.main([*base, "--weights", str(junk)]) == 2
    err = capsys.readouterr().err
    assert str(junk) in err and "is not a Keras VGG16 (include_top=False) weights file" in err
    assert cli.main([*base, "--weights", str(tmp_path / "missing.weights.h5")]) == 2
    assert "missing.weights.h5 does not exist" in capsys.readouterr().err


def _bad_kinds(base: Path) -> dict:
    """name -> (data root, extra flags, expected exit code, words the message must hold)."""
    from test_data import _bad_input_tree

    (base / "empty" / "Train" / "happy").mkdir(parents=True)
    (base / "empty" / "Validation" / "happy").mkdir(parents=True)
    (base / "empty" / "Train" / "happy" / "notes.txt").write_text("no image here")
    one_split = _tree(base / "one_split", per_class=(2, 1))
    for p in (one_split / "Validation" / "contempt").iterdir():
        p.unlink()
    (one_split / "Validation" / "contempt").rmdir()
    return {
        "missing folder": (base / "nowhere", [], 2, ["nowhere", "not a folder"]),
        "no images": (base / "empty", [], 2, ["Train", "no readable image"]),
        "bad-input tree": (_bad_input_tree(base / "bad"), [], 0, []),
        "7 classes": (_tree(base / "seven", per_class=(2, 1), classes=AFFECTNET_CLASSES[:7]), [], 0, []),
        "grayscale 48x48": (_tree(base / "grey", per_class=(2, 1), size=48, mode="L"), [], 0, []),
        "Train only": (_tree(base / "train_only", per_class=(3,), splits=("Train",)), [], 2,
                       ["no Validation split", "--validation-split 0.2"]),
        "Train only, held out": (base / "train_only", ["--validation-split", "0.3"], 0, []),
        "class in one split": (one_split, [], 2, ["contempt", "--class-policy intersection"]),
        "class in one split, shared": (one_split, ["--class-policy", "intersection"], 0, []),
    }


def test_bad_input_end_to_end_on_the_command_line(cache, tmp_path, capsys):
    kinds = _bad_kinds(tmp_path)
    for name, (root, flags, code, words) in kinds.items():
        before = _digest(root) if root.exists() else {}
        got = cli.main(["train", "light_vgg", "--data", str(root), "--epochs", "1", "--batch-size", "8", *flags])
        captured = capsys.readouterr()
        assert got == code, f"{name}: exit {got}\n{captured.err[-2000:]}"
        assert "Traceback" not in captured.err, name
        if code:
            message = captured.err[captured.err.index("error: "):].strip()  # after the progress bars
            assert message.count("\n") <= 3, f"{name}: {message}"
            for word in words:
                assert word in message, f"{name}: {word!r} not in {message!r}"
        else:
            assert "kept epoch 1" in captured.out, name
        assert (_digest(root) if root.exists() else {}) == before, f"{name}: the data folder changed"


def test_a_notebook_pointed_at_a_missing_folder_stops_at_the_data_cell_with_the_message(tmp_path):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(REPO / "notebooks" / "q5_facial_expressions.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    cut = next(i for i, c in enumerate(code) if "load_dataset(" in c.source) + 1
    nb.cells = code[:cut]
    missing = tmp_path / "my_affectnet"
    env = {**os.environ, "FERCOURSE_DATA": str(missing), "FERCOURSE_CACHE": str(tmp_path / "cache")}
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO / "notebooks")}})
    with pytest.raises(CellExecutionError) as failure:
        client.execute(env=env)
    text = str(failure.value)
    assert "load_dataset(" in text and "DataError" in text
    assert f"FERCOURSE_DATA points to {missing}, which is not a folder" in text
    assert "tensorflow" not in text.lower().split("dataerror")[-1]  # the last words are ours, not TF's


# --- the cache folder -------------------------------------------------------------------------

def test_the_cache_command_shows_sizes_per_kind_and_clears_by_kind(cache, capsys):
    (cache / "features").mkdir(parents=True)
    (cache / "features" / "a.npy").write_bytes(b"x" * 2_000_000)
    (cache / "models" / "m-1").mkdir(parents=True)
    (cache / "models" / "m-1" / "model.weights.h5").write_bytes(b"x" * 1_000_000)
    (cache / "features" / ".a.lock").touch()  # a lock file: not an entry
    assert cli.main(["cache"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^features\s+1\s+2\.0\s", out, re.M) and re.search(r"^models\s+1\s+1\.0\s", out, re.M)
    assert str(cache) in out
    assert cli.main(["cache", "--clear", "features"]) == 0
    assert not (cache / "features").exists() and (cache / "models" / "m-1").exists()
    assert cli.main(["cache", "--clear", "all"]) == 0
    assert not (cache / "models").exists()
    assert paths.cache_dir() == cache


# --- safe loading -----------------------------------------------------------------------------

# Ways to unpickle: the module under any import form, its relatives, and the loaders built on it.
UNPICKLING = re.compile(r"\b(?:import|from)\s+(?:c|_)?[pP]ickle\b|\bpickle\.loads?\b|\bshelve\b|\bmarshal\.loads?\b|"
                        r"allow_pickle\s*=\s*True|safe_mode\s*=\s*False|\bdill\b|\bcloudpickle\b|"
                        r"joblib\.load|read_pickle\b")


def test_the_pickle_lint_catches_every_import_form():
    for bad in ("import pickle", "from pickle import load", "import pickle as p", "from _pickle import loads",
                "import cPickle", "x = pd.read_pickle(f)", "np.load(f, allow_pickle=True)", "import shelve",
                "joblib.load(f)", "keras.models.load_model(f, safe_mode=False)"):
        assert UNPICKLING.search(bad), bad
    for fine in ("np.load(f)", "json.load(f)", "# no pickles here", "picklesque = 1"):
        assert not UNPICKLING.search(fine), fine


def test_no_pickle_and_keras_models_load_in_safe_mode():
    sources = [p for p in (REPO / "fercourse").rglob("*.py")] + [p for p in (REPO / "notebooks").glob("*.ipynb")]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert not UNPICKLING.search(text), path
        for call in re.findall(r"load_model\([^)]*\)", text):
            assert "safe_mode=True" in call, f"{path}: {call}"


# --- determinism and interruption -------------------------------------------------------------

def test_two_runs_with_the_same_seed_give_identical_weights(cache, tmp_path):
    from fercourse.data import load_dataset
    from fercourse import recipes
    from fercourse.train import ModelStore, TrainConfig

    data = load_dataset(_tree(tmp_path / "data", per_class=(4, 1)), log=lambda *a: None)
    config = TrainConfig(epochs=2, batch_size=8, learning_rate=3e-4, patience=5, augment=True)
    runs = [recipes.train_light_vgg(data, config, store=ModelStore(tmp_path / f"store{i}"), verbose=0)
            for i in range(2)]
    assert runs[0].history == runs[1].history
    for a, b in zip(runs[0].model.get_weights(), runs[1].model.get_weights()):
        np.testing.assert_array_equal(a, b)


# The command line, with one change: the process kills itself (SIGKILL, nothing flushed or
# cleaned up) in the middle of the second epoch, after the first one was recorded. Killing it
# from outside would race a poll against the epochs' ends.
KILLED_IN_EPOCH_2 = """
import os, signal, sys
import keras
from fercourse import __main__ as cli
from fercourse.train import fit

class KillMidEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch >= 1:
            os.kill(os.getpid(), signal.SIGKILL)

fit._status_callback = lambda *args: KillMidEpoch()
sys.exit(cli.main(sys.argv[1:]))
"""


def test_a_training_killed_mid_epoch_resumes_with_the_same_command(cache, tmp_path):
    root = _tree(tmp_path / "data", per_class=(10, 1))
    command = [sys.executable, "-m", "fercourse", "train", "light_vgg", "--data", str(root), "--epochs", "3",
               "--batch-size", "4", "--patience", "10"]
    env = {**os.environ, "FERCOURSE_CACHE": str(cache)}
    killed = subprocess.run([sys.executable, "-c", KILLED_IN_EPOCH_2, *command[3:]], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    history = list((cache / "models").glob("light_vgg_plain-*/history.json"))
    assert history, "the first epoch was never recorded"
    folder = history[0].parent
    finished = len(json.loads(history[0].read_text()))
    assert finished == 1 and not (folder / "meta.json").exists()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3 epochs" in done.stdout and "trained in" in done.stdout
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["complete"] and meta["resumed_at_epoch"] == finished  # not from epoch 0
    assert [r["epoch"] for r in json.loads(history[0].read_text())] == [0, 1, 2]
    assert not (folder / "backup").exists()
    # The uninterrupted run of the same command: the same store entry, the same epochs.
    os.environ["FERCOURSE_CACHE"] = str(tmp_path / "other")
    try:
        assert cli.main(command[3:]) == 0
    finally:
        os.environ["FERCOURSE_CACHE"] = str(cache)
    (other,) = (tmp_path / "other" / "models").glob("light_vgg_plain-*")
    assert other.name == folder.name and json.loads((other / "meta.json").read_text())["epochs_run"] == 3
    from fercourse.train import ModelStore

    (entry,) = ModelStore(cache / "models").entries("light_vgg_plain")
    assert entry.complete()  # the resumed weights verify against their checksum


# --- bounded memory ---------------------------------------------------------------------------

def test_a_set_larger_than_the_threshold_streams_with_bounded_memory(tmp_path):
    """320 MB of images, a 64 MB threshold: one shuffled epoch raises peak memory by far less than
    the set (today's in-memory path would copy it twice)."""
    rows, size = 6500, 128
    path = tmp_path / "train.images.npy"
    header = {"descr": "|u1", "fortran_order": False, "shape": (rows, size, size, 3)}
    row = np.arange(size * size * 3, dtype=np.uint8).tobytes()
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        for _ in range(rows):
            handle.write(row)
    code = textwrap.dedent(f"""
        import resource, numpy as np
        from fercourse.env import import_tensorflow
        from fercourse.data import ImageSplit, hold_out
        from fercourse.data.pipeline import as_tf_dataset
        from fercourse.data.rows import ImageRows
        tf, _ = import_tensorflow()
        images = np.load({str(path)!r}, mmap_mode="r")
        labels = (np.arange({rows}) % 8).astype("int32")
        split = ImageSplit("train", "Train/", [str(i) for i in range({rows})], labels, images)
        rest, held = hold_out(split, 0.1)
        assert isinstance(rest.images, ImageRows), type(rest.images)
        for _ in as_tf_dataset(held, batch_size=64).take(2):  # warm up TensorFlow's own allocations
            pass
        start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        seen = 0
        for x, y in as_tf_dataset(rest, batch_size=64, shuffle=True):
            seen += int(y.shape[0])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(seen, len(rest), round(peak - start))
    """)
    env = {**os.environ, "FERCOURSE_STREAM_MB": "64", "FERCOURSE_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    seen, total, grown = map(int, done.stdout.split()[-3:])
    data_mb = rows * size * size * 3 / 2**20
    assert seen == total
    assert grown < 0.25 * data_mb, f"peak memory grew {grown} MB for a {data_mb:.0f} MB set"


def test_op_determinism_does_not_break_an_unseeded_user_script(tmp_path):
    """Under op determinism TensorFlow refuses unseeded random ops (fit shuffles NumPy inputs):
    importing through fercourse must leave a plain script working."""
    code = textwrap.dedent("""
        import numpy as np
        from fercourse.env import import_tensorflow
        tf, keras = import_tensorflow()
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5), keras.layers.Dense(2)])
        model.compile("adam", "mse")
        model.fit(np.zeros((8, 4)), np.zeros((8, 2)), verbose=0)
        print("ok")
    """)
    env = {**os.environ, "FERCOURSE_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "ok"
