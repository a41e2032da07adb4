"""Your own photos (fercourse.photos and ``python -m fercourse predict``): every face, bad files
named and skipped, nothing written outside --out, and the same answers as ``evaluate``."""
import dataclasses
import json
import os

import numpy as np
import pytest
from PIL import Image

from conftest import class_tree
from fercourse import __main__ as cli
from fercourse import photos
from fercourse.classes import AFFECTNET_CLASSES
from fercourse.data.faces import box_iou
from fercourse.synthetic.frames import compose_scene


@pytest.fixture(scope="module")
def tiny_model():
    from fercourse.env import import_tensorflow

    _, keras = import_tensorflow()
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(8, activation="softmax")])


def test_every_face_of_generated_scenes_is_found_and_classified(tiny_model):
    rng = np.random.default_rng(0)
    scenes = [compose_scene(rng, faces=k) for k in (0, 1, 2, 3, 4, 2, 3)]
    rows = photos.predict([s["image"] for s in scenes], tiny_model, AFFECTNET_CLASSES, cam="gradcam")
    known = sum(len(s["boxes"]) for s in scenes)
    matched = 0
    for index, scene in enumerate(scenes):
        mine = [r for r in rows if r.image == index]
        assert mine and all(r.path is None and r.error is None for r in mine)
        if not scene["boxes"]:  # no face: the whole image, classified, and said so
            assert [r.face for r in mine] == [None]
        matched += sum(any(r.face and box_iou(box, r.face) >= 0.5 for r in mine) for box in scene["boxes"])
        for r in mine:
            assert r.label in AFFECTNET_CLASSES and r.label == max(r.probabilities, key=r.probabilities.get)
            assert sum(r.probabilities.values()) == pytest.approx(1, abs=1e-4)
            assert r.cam.shape == (32, 32) and 0 <= r.cam.min() and r.cam.max() <= 1
    assert known == 15 and matched >= 10  # the cascade finds most generated faces (its benchmark: ~75 %)


def test_faces_go_through_the_network_in_one_batch(tiny_model, monkeypatch):
    from fercourse import inference

    calls = []
    real = inference.outputs
    monkeypatch.setattr(photos, "outputs", lambda model, batch, **kw: calls.append(len(batch)) or real(model, batch))
    rng = np.random.default_rng(1)
    rows = photos.predict([compose_scene(rng, faces=2)["image"] for _ in range(3)], tiny_model, AFFECTNET_CLASSES)
    assert calls == [len(rows)]


def _bad_and_odd_files(folder):
    """Files a user's folder may hold; returns the names that must fail, with words of the reason."""
    rng = np.random.default_rng(2)
    scene = compose_scene(rng, faces=1)["image"]
    Image.fromarray(scene).save(folder / "good.png")
    Image.fromarray(scene).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray((scene[..., 0].astype(np.uint16) * 257)).save(folder / "grey16.png")
    Image.fromarray(np.dstack([scene, np.full(scene.shape[:2], 200, np.uint8)])).save(folder / "alpha.png")
    (folder / "sub").mkdir()
    Image.fromarray(scene).save(folder / "sub" / "nested.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.png").write_text("not an image")
    whole = (folder / "good.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 3])
    Image.new("L", (10_000, 10_000)).save(folder / "huge.png")  # 100 megapixels
    return {"empty.jpg": "empty", "notes.png": "not an image", "truncated.png": "truncated",
            "huge.png": "too large"}


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def test_bad_files_are_named_with_their_reason_and_the_rest_still_run(tiny_model, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    bad = _bad_and_odd_files(folder)
    before = _snapshot(folder)
    rows = photos.predict([folder], tiny_model, AFFECTNET_CLASSES)
    failed = {os.path.basename(r.path): r.error for r in rows if r.error}
    assert set(failed) == set(bad)
    for name, words in bad.items():
        assert words in failed[name], failed[name]
    fine = {os.path.basename(r.path) for r in rows if r.error is None}
    assert fine == {"good.png", "cmyk.jpg", "grey16.png", "alpha.png", "nested.jpg"}  # converted, as the loader does
    assert _snapshot(folder) == before  # the input folder is never touched


def test_rows_as_json_lines_and_csv(tiny_model):
    rows = photos.predict([compose_scene(np.random.default_rng(3), faces=1)["image"]], tiny_model, AFFECTNET_CLASSES)
    rows.append(photos.FacePrediction("x.jpg", 1, None, error="empty file (0 bytes)"))
    lines = [json.loads(line) for line in photos.format_rows(rows, "json").splitlines()]
    assert len(lines) == len(rows)
    for line in lines:
        assert {"path", "face", "label", "probabilities", "valence", "arousal", "error"} <= set(line)
    assert lines[-1]["error"] == "empty file (0 bytes)" and lines[-1]["label"] is None
    assert set(lines[0]["probabilities"]) == set(AFFECTNET_CLASSES)
    header = photos.format_rows(rows, "csv").splitlines()[0].split(",")
    assert {f"p_{c}" for c in AFFECTNET_CLASSES} <= set(header) and "error" in header


@pytest.fixture()
def trained_tree(tmp_path, monkeypatch):
    """A tiny data tree (its Validation as PNG files) and a light VGG trained on it for 1 epoch."""
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path / "cache"))
    root = class_tree(tmp_path / "data", {"Train": 3, "Validation": 2})
    flags = ["--data", str(root), "--epochs", "1", "--batch-size", "8"]
    assert cli.main(["train", "light_vgg", *flags]) == 0
    return root, flags


def test_predict_agrees_with_evaluate_and_writes_only_into_out(trained_tree, tmp_path, capsys):
    from fercourse.data import load_dataset
    from fercourse import recipes
    from fercourse.evaluate import predict_split

    root, flags = trained_tree
    capsys.readouterr()
    before = _snapshot(root)
    out = tmp_path / "out"
    status = cli.main(["predict", str(root / "Validation"), *flags, "--faces", "as-is", "--format", "json",
                       "--cam", "gradcam", "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "model: light_vgg_plain" in printed and "trained on" in printed
    assert _snapshot(root) == before
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and all(r["face"] is None and r["error"] is None for r in rows)
    assert len(list(out.glob("*.annotated.png"))) == 16
    # the same faces option and model: the top classes are evaluate's
    data = load_dataset(root, log=lambda *a: None)
    config = dataclasses.replace(recipes.LIGHT_VGG_QUICK, epochs=1, batch_size=8)
    model = recipes.train_light_vgg(data, config, verbose=0, stored_only=True).model
    _, proba = predict_split(model, data["validation"])
    by_file = {os.path.relpath(r["path"], root): r["label"] for r in rows}
    expected = {f: data.classes[int(p)] for f, p in zip(data["validation"].files, proba.argmax(1))}
    assert by_file == expected


def test_predict_counts_failed_files_in_its_exit_status_and_names_the_missing_model(trained_tree, tmp_path,
                                                                                   capsys):
    root, flags = trained_tree
    folder = tmp_path / "mine"
    folder.mkdir()
    _bad_and_odd_files(folder)
    assert cli.main(["predict", str(folder), *flags, "--format", "csv"]) == 4
    out = capsys.readouterr().out
    assert "4 file(s) failed" in out and "too large" in out
    assert cli.main(["predict", str(folder), "--data", str(root), "--epochs", "7"]) == 2
    err = capsys.readouterr().err
    assert "python -m fercourse train light_vgg" in err and "--epochs 7" in err


def test_scene_scores_count_drawn_found_matched_false_and_correct():
    scenes = [{"boxes": [(0, 0, 10, 10), (50, 50, 10, 10)], "classes": ["happy", "sad"]},
              {"boxes": [], "classes": []}]
    rows = [photos.FacePrediction(None, 0, [1, 1, 10, 10], label="happy"),  # matched, right
            photos.FacePrediction(None, 0, [80, 80, 10, 10], label="sad"),  # overlaps nothing: false
            photos.FacePrediction(None, 1, None, label="fear")]  # no face found: whole image
    assert photos.score_scenes(rows, scenes) == {"drawn": 2, "found": 2, "matched": 1, "false": 1, "correct": 1}


def test_the_gap_variant_is_trained_and_applied_by_name(trained_tree, tmp_path, capsys):
    root, flags = trained_tree
    assert cli.main(["predict", str(root / "Validation" / "happy"), "--model", "light_vgg_gap", *flags]) == 2
    assert "python -m fercourse train light_vgg_gap" in capsys.readouterr().err
    assert cli.main(["train", "light_vgg_gap", *flags]) == 0
    assert "its convolutions start the GAP variant" in capsys.readouterr().out
    assert cli.main(["predict", str(root / "Validation" / "happy"), "--model", "light_vgg_gap", *flags,
                     "--faces", "as-is", "--format", "json", "--cam", "gradcam"]) == 0
    out = capsys.readouterr().out
    assert "model: light_vgg_gap" in out
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(rows) == 2 and all(r["label"] in AFFECTNET_CLASSES for r in rows)


def test_found_by_skin_tone_gives_one_share_per_tone_of_the_generator():
    from fercourse.synthetic.faces import SKIN_TONES

    shares = photos.found_by_skin_tone(per_tone=3)
    assert len(shares) == len(SKIN_TONES) and all(0 <= s <= 1 for s in shares)
    assert photos.found_by_skin_tone(per_tone=3) == shares  # seeded


def test_valence_and_arousal_come_with_each_face_once_the_head_is_stored(trained_tree, capsys):
    root, flags = trained_tree
    for split in ("Train", "Validation"):  # valence/arousal tables that follow the class
        rows = ["file,valence,arousal"] + [f"{cls}/{path.name},{-0.8 + 0.2 * ci:.2f},{0.7 - 0.15 * ci:.2f}"
                                           for ci, cls in enumerate(AFFECTNET_CLASSES)
                                           for path in sorted((root / split / cls).iterdir())]
        (root / split / "valence_arousal.csv").write_text("\n".join(rows) + "\n")
    happy = str(root / "Validation" / "happy")
    args = ["predict", happy, *flags, "--faces", "as-is", "--format", "json"]
    assert cli.main(["train", "light_vgg", *flags]) == 0  # the tables changed the data: trained anew
    capsys.readouterr()
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "no stored valence/arousal head" in out and "--task valence-arousal" in out
    assert all(json.loads(line)["valence"] is None for line in out.splitlines() if line.startswith("{"))
    assert cli.main(["train", "light_vgg", *flags, "--task", "valence-arousal"]) == 0
    capsys.readouterr()
    assert cli.main(args) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(rows) == 2 and all(-1 <= r["valence"] <= 1 and -1 <= r["arousal"] <= 1 for r in rows)


@pytest.mark.parametrize("method", ["gradcam++", "scorecam"])
def test_every_cam_method_gives_each_face_a_map(tiny_model, method):
    scene = compose_scene(np.random.default_rng(4), faces=2)["image"]
    rows = photos.predict(scene, tiny_model, AFFECTNET_CLASSES, cam=method)
    assert rows and all(r.cam.shape == (32, 32) and np.isfinite(r.cam).all() for r in rows)
    with pytest.raises(ValueError, match="cam must be one of"):
        photos.predict(scene, tiny_model, AFFECTNET_CLASSES, cam="lime")
