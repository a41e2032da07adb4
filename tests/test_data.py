import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fercourse import paths
from fercourse.data import DataError, canonical_class, load_dataset, resolve_data_root
from fercourse.data import decoded as decoded_module
from fercourse.classes import AFFECTNET_CLASSES
from fercourse.data.pipeline import as_tf_dataset

SILENT = dict(log=lambda *a: None)


def _jpeg(path: Path, colour=(200, 100, 50), size=(40, 30), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path, format="JPEG")


def make_tree(root: Path, splits=("Train", "Validation"), classes=AFFECTNET_CLASSES, per_class=3, name=str):
    for split in splits:
        for ci, cls in enumerate(classes):
            for i in range(per_class):
                _jpeg(root / split / name(cls) / f"img_{i}.jpg", colour=(ci * 30, i * 40, 100))
    return root


def checksums(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FERCOURSE_DATA", raising=False)


@pytest.mark.parametrize("folder, expected", [
    ("Angry", "anger"), ("HAPPINESS", "happy"), ("sadness", "sad"), ("Surprised", "surprise"),
    ("fearful", "fear"), ("Disgusted", "disgust"), ("contempt", "contempt"), ("Neutral", "neutral"),
    ("0", "neutral"), ("6", "anger"), ("07", "contempt"), ("cat", None), ("8", None),
])
def test_canonical_class_names(folder, expected):
    assert canonical_class(folder) == expected


@pytest.mark.parametrize("splits, namer", [
    (("Train", "Validation"), str),
    (("train", "val"), str.upper),
    (("TRAIN", "valid"), str.capitalize),
    (("Training", "Validation", "Test"), lambda c: str(AFFECTNET_CLASSES.index(c))),
    (("train", "validation"), lambda c: {"anger": "angry", "happy": "happiness", "sad": "Sadness",
                                         "surprise": "surprised", "fear": "fearful", "disgust": "disgusted",
                                         "neutral": "neutral", "contempt": "contempt"}[c]),
])
def test_every_naming_variant_loads_with_affectnet_labels(tmp_path, splits, namer):
    root = make_tree(tmp_path / "data", splits=splits, name=namer)
    data = load_dataset(root, image_size=16, **SILENT)
    assert data.classes == AFFECTNET_CLASSES
    assert set(data.splits) == ({"train", "validation", "test"} if "Test" in splits else {"train", "validation"})
    assert data.counts().loc["total", "train"] == 24
    # label i is AffectNet's class i: the colour encodes the class index
    train = data["train"]
    for label, image in zip(train.labels, train.images):
        assert abs(int(image[..., 0].mean()) - 30 * int(label)) <= 3


def test_seven_class_set_without_contempt(tmp_path):
    root = make_tree(tmp_path / "d", classes=AFFECTNET_CLASSES[:7])
    data = load_dataset(root, image_size=16, **SILENT)
    assert data.classes == AFFECTNET_CLASSES[:7] and len(data.counts()) == 8  # 7 classes + total


def test_class_sets_that_differ_between_splits(tmp_path):
    root = make_tree(tmp_path / "d")
    for p in (root / "Validation" / "contempt").iterdir():
        p.unlink()
    (root / "Validation" / "contempt").rmdir()
    with pytest.raises(DataError, match="different classes.*class_policy='intersection'"):
        load_dataset(root, image_size=16, **SILENT)
    data = load_dataset(root, image_size=16, class_policy="intersection", **SILENT)
    assert "contempt" not in data.classes
    assert any("not in every split" in s.reason for s in data.report.skipped)


def test_missing_validation_split_is_a_clear_error_or_held_out(tmp_path):
    root = make_tree(tmp_path / "d", splits=("Train",), per_class=5)
    with pytest.raises(DataError, match="no Validation split.*validation_split"):
        load_dataset(root, image_size=16, **SILENT)
    data = load_dataset(root, image_size=16, validation_split=0.4, **SILENT)
    assert len(data["train"]) == 24 and len(data["validation"]) == 16
    assert set(data["train"].files).isdisjoint(data["validation"].files)
    assert "held out 40%" in data["validation"].source


def test_unknown_folders_and_missing_roots_are_named(tmp_path):
    root = make_tree(tmp_path / "d")
    (root / "Train" / "cats").mkdir()
    with pytest.raises(DataError, match="Train/cats/ is not an expression class folder"):
        load_dataset(root, image_size=16, **SILENT)
    with pytest.raises(DataError, match="not a folder"):
        load_dataset(tmp_path / "nowhere", **SILENT)
    with pytest.raises(DataError, match="no Train split"):
        (tmp_path / "empty").mkdir()
        load_dataset(tmp_path / "empty", **SILENT)


def _bad_input_tree(root: Path) -> Path:
    make_tree(root, per_class=2)
    happy, sad = root / "Train" / "happy", root / "Train" / "sad"
    good = (happy / "img_0.jpg").read_bytes()
    (happy / "corrupt.jpg").write_bytes(good[: len(good) // 2])
    (happy / "zero.jpg").write_bytes(b"")
    (happy / "notes.jpg").write_text("this is not an image")
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(sad / "cmyk.jpg")  # CMYK red
    Image.fromarray(np.full((20, 20), 65535, dtype=np.uint16)).save(sad / "sixteen.png")
    Image.new("RGBA", (20, 20), (10, 20, 30, 0)).save(sad / "transparent.png")
    palette = Image.new("P", (20, 20), 0)
    palette.putpalette([0, 0, 255] + [0] * 765)
    palette.save(sad / "palette.png")
    Image.new("L", (20, 20), 77).save(sad / "grey.png")
    Image.new("RGB", (4000, 3000), (0, 255, 0)).save(sad / "huge.jpg", quality=70)
    _jpeg(sad / "خوشحال_۱.jpg", colour=(9, 9, 9))
    _jpeg(sad / "café.jpg", colour=(9, 9, 9))
    (root / "Train" / "README.txt").write_text("stray")
    (root / "Train" / "surprise" / "thumbs.db").write_bytes(b"\x00")
    for p in (root / "Train" / "fear").iterdir():
        p.unlink()
    return root


def test_bad_input_tree_is_handled_file_by_file(tmp_path):
    root = _bad_input_tree(tmp_path / "d")
    before = checksums(root)
    data = load_dataset(root, image_size=16, **SILENT)
    reasons = {Path(s.path).name: s.reason for s in data.report.skipped}
    assert "corrupt or truncated" in reasons["corrupt.jpg"]
    assert reasons["zero.jpg"] == "empty file (0 bytes)"
    assert "not an image Pillow can read" in reasons["notes.jpg"]
    assert "stray file" in reasons["README.txt"]
    assert "not an image file extension" in reasons["thumbs.db"]
    assert any("Train/fear/ is empty" in w for w in data.report.warnings)
    train = data["train"]
    names = {Path(f).name: i for i, f in enumerate(train.files)}
    px = lambda name: train.images[names[name]][8, 8].tolist()  # noqa: E731
    assert px("sixteen.png") == [255, 255, 255]          # 16-bit white stays white
    assert px("transparent.png") == [255, 255, 255]      # transparent -> composited on white
    assert px("palette.png") == [0, 0, 255]              # palette entry 0 is blue
    assert px("grey.png") == [77, 77, 77]
    r, g, b = px("cmyk.jpg")
    assert r > 200 and g < 60 and b < 60                 # CMYK (0, 100 %, 100 %, 0) is red
    assert px("huge.jpg")[1] > 200                       # decoded at reduced size, not skipped
    assert "خوشحال_۱.jpg" in names and "café.jpg" in names
    assert data.report.modes["CMYK"] == 1 and data.report.modes["I;16"] + data.report.modes.get("I", 0) >= 1
    # a full pass over the pipeline completes
    seen = sum(int(y.shape[0]) for _, y in as_tf_dataset(train, batch_size=7))
    assert seen == len(train)
    assert checksums(root) == before, "the data folder must never be written to"


def test_oversized_images_are_skipped_with_their_size(tmp_path):
    root = make_tree(tmp_path / "d", per_class=1)
    Image.new("RGB", (1200, 1000)).save(root / "Train" / "happy" / "big.png")
    data = load_dataset(root, image_size=16, max_pixels=1_000_000, **SILENT)
    (skip,) = [s for s in data.report.skipped if s.path.endswith("big.png")]
    assert "1200x1000" in skip.reason and "limit is 1,000,000" in skip.reason


def test_keep_aspect_pads_instead_of_stretching(tmp_path):
    root = make_tree(tmp_path / "d", per_class=1)
    Image.new("RGB", (40, 20), (255, 255, 255)).save(root / "Train" / "happy" / "wide.png")
    data = load_dataset(root, image_size=16, keep_aspect=True, **SILENT)
    img = data["train"].images[data["train"].files.index("Train/happy/wide.png")]
    assert img[0, 8].tolist() == [0, 0, 0] and img[8, 8].tolist() == [255, 255, 255]


def test_decoded_images_are_cached_and_invalidated_by_changes(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "d", per_class=1)
    first = load_dataset(root, image_size=16, **SILENT)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although nothing changed")

    monkeypatch.setattr(decoded_module, "decode_file", no_decoding)
    second = load_dataset(root, image_size=16, **SILENT)
    assert second.fingerprint == first.fingerprint
    np.testing.assert_array_equal(second["train"].images, first["train"].images)
    monkeypatch.undo()
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path / "cache"))
    _jpeg(root / "Train" / "happy" / "new.jpg")
    third = load_dataset(root, image_size=16, **SILENT)
    assert third.fingerprint != first.fingerprint and len(third["train"]) == len(first["train"]) + 1


def test_valence_arousal_table_is_matched_and_validated(tmp_path):
    root = make_tree(tmp_path / "d", per_class=2)
    _jpeg(root / "Train" / "sad" / "unique.jpg")
    (root / "Train" / "labels.csv").write_text("file,valence,arousal\nhappy/img_0.jpg,0.5,0.25\nunique.jpg,-0.1,0.9\n")
    data = load_dataset(root, image_size=16, **SILENT)
    va, files = data["train"].valence_arousal, data["train"].files
    assert va[files.index("Train/happy/img_0.jpg")].tolist() == [0.5, 0.25]
    assert va[files.index("Train/sad/unique.jpg")].tolist() == pytest.approx([-0.1, 0.9])
    assert np.isnan(va[files.index("Train/sad/img_0.jpg")]).all()
    assert data["validation"].valence_arousal is None
    batch = next(iter(as_tf_dataset(data["train"], target="valence_arousal", batch_size=64)))
    assert tuple(batch[1].shape)[1] == 2 and not np.isnan(batch[1].numpy()).any()
    (root / "Train" / "labels.csv").write_text("file,valence,arousal\nimg_1.jpg,0.1,0.1\n")
    with pytest.raises(DataError, match="several classes hold a file of that name"):
        load_dataset(root, image_size=16, **SILENT)
    (root / "Train" / "labels.csv").write_text("file,valence\nx.jpg,0.1\n")
    with pytest.raises(DataError, match=r"labels.csv: missing column\(s\) arousal"):
        load_dataset(root, image_size=16, **SILENT)
    (root / "Train" / "labels.csv").write_text("file,valence,arousal\nx.jpg,high,0.1\n")
    with pytest.raises(DataError, match="row 2 has a valence/arousal that is not a number"):
        load_dataset(root, image_size=16, **SILENT)


def test_data_root_resolution_order(tmp_path, monkeypatch):
    explicit = make_tree(tmp_path / "explicit", per_class=1)
    env_root = make_tree(tmp_path / "env", per_class=1)
    monkeypatch.setenv("FERCOURSE_DATA", str(env_root))
    assert resolve_data_root(explicit, **SILENT).path == explicit
    assert resolve_data_root(**SILENT).reason == "FERCOURSE_DATA"
    monkeypatch.setenv("FERCOURSE_DATA", str(tmp_path / "missing"))
    with pytest.raises(DataError, match="FERCOURSE_DATA points to"):
        resolve_data_root(**SILENT)
    monkeypatch.delenv("FERCOURSE_DATA")
    monkeypatch.chdir(tmp_path)
    make_tree(tmp_path / "data" / "affectnet", per_class=1)
    local = resolve_data_root(**SILENT)
    assert local.reason == "found data/affectnet" and not local.generated
    messages = []
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    if not (paths.REPO_ROOT / "data" / "affectnet").is_dir():
        generated = resolve_data_root(log=messages.append, train_per_class=2, validation_per_class=1)
        assert generated.generated and "NOT AffectNet" in generated.description
        assert messages and "NOT AffectNet" in messages[0]


def test_pipeline_batches_scale_and_shuffle(tmp_path):
    root = make_tree(tmp_path / "d", per_class=4)
    train = load_dataset(root, image_size=16, **SILENT)["train"]
    x, y = next(iter(as_tf_dataset(train, batch_size=10)))
    assert tuple(x.shape) == (10, 16, 16, 3) and x.dtype.name == "float32" and y.dtype.name == "int32"
    assert 0.0 <= float(x.numpy().min()) and float(x.numpy().max()) <= 1.0
    np.testing.assert_allclose(x.numpy()[0], train.images[0] / 255.0, atol=1e-7)
    order = lambda seed: np.concatenate([b[1].numpy() for b in as_tf_dataset(train, shuffle=True, seed=seed)])  # noqa: E731
    assert sorted(order(1)) == sorted(train.labels.tolist())
    with pytest.raises(ValueError, match="target must be"):
        as_tf_dataset(train, target="age")
    with pytest.raises(ValueError, match="no valence/arousal table"):
        as_tf_dataset(train, target="valence_arousal")


def test_load_dataset_can_leave_the_choice_to_the_chapter_banner(tmp_path):
    root = make_tree(tmp_path / "d", per_class=2)
    said, quiet = [], []
    load_dataset(root, image_size=16, log=said.append)
    load_dataset(root, image_size=16, log=quiet.append, announce=False)
    assert any(line.startswith("data: real data") for line in said)
    assert not any(line.startswith("data:") for line in quiet)
