"""Face detection and alignment in the data path (fercourse.data.faces)."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fercourse.data import DataError, load_dataset
from fercourse.data.faces import box_iou, crop_square, eye_angle, face_options, find_face
from fercourse.synthetic.frames import frames, write_frames

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scenes():
    """40 frames with a face at a known place, size (30-70 % of the side) and tilt."""
    return frames(40, seed=0)


def test_the_crop_contains_the_face_on_most_frames(scenes):
    matched = []
    for scene in scenes:
        crop, info = find_face(scene["image"], face_options("crop"))
        if info["face"] is None:
            assert crop is scene["image"]  # no face: the whole frame, untouched
            continue
        x0, y0, side = info["crop"]
        assert crop.shape == (round(side), round(side), 3)
        matched.append(box_iou((x0, y0, side, side), scene["box"]))
    assert len(matched) >= 0.6 * len(scenes)  # the Haar cascade finds most generated faces
    assert np.mean(np.array(matched) >= 0.5) >= 0.9  # and where it does, the crop is on the face
    assert sum(m >= 0.5 for m in matched) > len(scenes) / 2  # IoU >= 0.5 on most of all frames


def test_a_frame_without_a_face_falls_back_to_the_whole_frame():
    empty = frames(10, seed=1, face=False)
    for scene in empty:
        image, info = find_face(scene["image"], face_options("crop"))
        assert info == {"face": None, "angle": None, "crop": None} and image is scene["image"]


def test_alignment_measures_the_tilt_and_levels_it(scenes):
    """Where the eye cascade finds both eyes, the measured eye line is the frame's tilt (the
    face was turned counter-clockwise by ``angle``: its right-hand eye rises)."""
    errors = []
    for scene in scenes:
        _, info = find_face(scene["image"], face_options("align"))
        if info["angle"] is not None:
            errors.append(abs(info["angle"] + scene["angle"]))
    assert len(errors) >= 0.4 * len(scenes)
    assert np.median(errors) < 2.5 and np.mean(np.array(errors) < 5) >= 0.8


def test_the_crop_rotation_levels_a_tilted_pair_of_points():
    """Exact geometry: two dots on a line tilted by +10 degrees end up on one row."""
    import cv2

    frame = np.zeros((200, 200, 3), np.uint8)
    tilt = math.radians(10)
    centre = np.array([100.0, 100.0])
    dots = [centre + r * np.array([math.cos(tilt), math.sin(tilt)]) for r in (-40, 40)]
    for x, y in dots:
        cv2.circle(frame, (int(round(x)), int(round(y))), 3, (255, 255, 255), -1)
    crop, (x0, y0, side) = crop_square(frame, (60, 60, 80, 80), margin=0.1, angle=10.0)
    grey = crop[..., 0].astype(float)
    left, right = grey[:, : side // 2], grey[:, side // 2:]
    rows = [np.average(np.arange(len(g)), weights=g.sum(axis=1)) for g in (left, right)]
    assert abs(rows[0] - rows[1]) < 1.0
    assert (x0, y0, side) == (52.0, 52.0, 96)


def test_no_eyes_no_angle():
    flat = np.full((120, 120, 3), 128, np.uint8)
    assert eye_angle(flat, (10, 10, 100, 100)) is None


@pytest.fixture(scope="module")
def frame_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("frames")
    known = write_frames(root, per_class=4, seed=2, no_face=1)
    return root, known


def test_the_loader_crops_counts_and_names_the_files_without_a_face(frame_tree, tmp_path, monkeypatch):
    root, known = frame_tree
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path / "cache"))
    plain = load_dataset(root, progress=False, announce=False)
    data = load_dataset(root, faces="crop", progress=False, announce=False)
    report = data.report
    for name in ("train", "validation"):  # nothing dropped: every file is an image of the set
        assert data[name].files == plain[name].files
        assert data[name].images.shape == plain[name].images.shape == (32, 128, 128, 3)
    found = int(report.faces.loc["total"].sum())
    assert found + len(report.no_face) == 64
    assert found >= 0.6 * sum(box is not None for box in known.values())
    assert {f for f, box in known.items() if box is None} <= set(report.no_face)  # no false face
    assert report.faces.shape == (9, 2) and list(report.faces.columns) == ["train", "validation"]
    text = str(report)
    assert f"no face in {len(report.no_face)} file(s)" in text and report.no_face[0] in text
    for name in ("train", "validation"):
        split, same = data[name], plain[name]
        for i, f in enumerate(split.files):
            if f in report.no_face:  # the fallback is the whole frame, as the as-is loader sees it
                np.testing.assert_array_equal(split.images[i], same.images[i])
            else:
                x, y, w, h, _ = split.faces[i]
                assert 0 <= x < 256 and 0 <= y < 256 and w > 20
                assert not np.array_equal(split.images[i], same.images[i])


def test_the_option_is_part_of_the_cache_key(frame_tree, tmp_path, monkeypatch):
    root, _ = frame_tree
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path / "cache"))
    load = lambda **kw: load_dataset(root, progress=False, announce=False, **kw)  # noqa: E731
    keys = {"as-is": load().decoded_fingerprint, "crop": load(faces="crop").decoded_fingerprint,
            "align": load(faces="align").decoded_fingerprint,
            "crop 0.3": load(faces="crop", face_margin=0.3).decoded_fingerprint}
    assert len(set(keys.values())) == 4
    assert load(faces="as-is").decoded_fingerprint == keys["as-is"]  # as-is keeps the old key
    monkeypatch.setenv("FERCOURSE_FACES", "crop")
    assert load().decoded_fingerprint == keys["crop"]  # the environment sets the default
    assert load().fingerprint != load(faces="as-is").fingerprint  # models and features follow


def test_grey_and_rgb_files_both_work(tmp_path, monkeypatch):
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path / "cache"))
    grey_known = write_frames(tmp_path / "grey", per_class=2, seed=4, no_face=0, grey=True)
    rgb_known = write_frames(tmp_path / "rgb", per_class=2, seed=4, no_face=0)
    assert grey_known == rgb_known  # the same scenes, written in one channel or three
    grey = load_dataset(tmp_path / "grey", faces="align", progress=False, announce=False)
    rgb = load_dataset(tmp_path / "rgb", faces="align", progress=False, announce=False)
    assert grey.report.modes == {"L": 32} and rgb.report.modes == {"RGB": 32}
    for data in (grey, rgb):
        assert data["train"].images.shape == (16, 128, 128, 3)
        assert int(data.report.faces.loc["total"].sum()) >= 16  # found in most of the 32


def test_bad_options_are_named():
    with pytest.raises(DataError, match="faces must be one of as-is, crop, align; got 'detect'"):
        face_options("detect")
    with pytest.raises(DataError, match="face margin must be between 0 and 1"):
        face_options("crop", 2.0)
    os.environ["FERCOURSE_FACES"] = "yes"
    try:
        with pytest.raises(DataError, match="FERCOURSE_FACES must be one of"):
            face_options()
    finally:
        del os.environ["FERCOURSE_FACES"]


def test_the_command_line_scans_faces_and_names_the_flag(frame_tree, tmp_path):
    """`evaluate --faces crop` without a trained model: the scan reports the faces, and the
    error gives the train command with the same flag."""
    root, _ = frame_tree
    env = {**os.environ, "FERCOURSE_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "fercourse", "evaluate", "light_vgg", "--data", str(root),
                           "--faces", "crop"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "faces found: train" in done.stdout and "whole frame used" in done.stdout
    assert "--faces crop" in done.stderr and "Traceback" not in done.stderr


def test_every_detector_setting_is_in_the_cache_key_and_is_what_the_detector_reads(scenes, monkeypatch):
    """One settings object: changing any of its fields changes the decoded-image key (a key that
    listed settings by hand once missed the image size, CLAHE and eye-cascade settings)."""
    import dataclasses

    from fercourse.data import faces

    base = face_options("crop").key()
    for field in dataclasses.fields(faces.DetectorSettings):
        value = getattr(faces.DETECTOR, field.name)
        other = value + "x" if isinstance(value, str) else value * 2 + 1
        monkeypatch.setattr(faces, "DETECTOR", dataclasses.replace(faces.DETECTOR, **{field.name: other}))
        assert face_options("crop").key() != base, f"{field.name} is not part of the key"
        monkeypatch.undo()
    # ...and it is the object detection reads: a face of the frame cannot be found when the
    # search skips faces smaller than the whole frame
    image = next(s["image"] for s in scenes if faces.detect_largest_face(s["image"]) is not None)
    monkeypatch.setattr(faces, "DETECTOR", dataclasses.replace(faces.DETECTOR, min_face_px=10_000))
    assert faces.detect_largest_face(image) is None
