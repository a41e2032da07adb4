"""Your own photos (``fercourse.predict``): its speed on generated scenes, and what detection costs.

    .venv/bin/python benchmarks/bench_predict.py

Work: 500 generated 384x384 scenes holding 0-4 faces each (``compose_scene``: known boxes and
classes), given as arrays. Baseline: the loop a user would write -- for each scene, OpenCV's
default frontal-face cascade with its default settings, then ``model.predict`` on each face
crop, one at a time. fercourse: ``predict(scenes, model, classes)`` -- detection in threads, every
face's crop through the network in one batch. Both with the light VGG's architecture (speed does
not depend on the weights). Also printed: faces found, boxes matched (IoU >= 0.5), false faces,
and, when the chapter's plain light VGG is in the model store, its accuracy on the matched faces
against the same model on the ground-truth crops: what detection costs. And the share of faces
the detector finds per skin tone of the generator (one centred face per frame): Haar cascades
are known to find darker faces less often, and the generated faces show it too.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Result, print_run  # noqa: E402


def _plain(scenes, model) -> int:
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    faces = 0
    for image in scenes:
        for x, y, w, h in cascade.detectMultiScale(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)):
            crop = cv2.resize(image[y:y + h, x:x + w], (128, 128), interpolation=cv2.INTER_AREA)
            model.predict(crop[None].astype(np.float32) / 255.0, verbose=0)
            faces += 1
    return faces


def _quality(scenes, rows, model=None, classes=None) -> str:
    """Faces found and matched, false faces; with a trained model, its accuracy on the matched
    faces from their detected crops and from the ground-truth crops (the squares drawn)."""
    from fercourse.data.decode import fit_square
    from fercourse.data.faces import crop_square
    from fercourse.inference import outputs
    from fercourse.photos import score_scenes

    score = score_scenes(rows, scenes)
    line = (f"{score['drawn']} faces in {len(scenes)} scenes: found {score['found']} ({score['matched']} matched "
            f"at IoU >= 0.5, {score['false']} false)")
    if model is not None and score["matched"]:
        crops = [fit_square(crop_square(s["image"], box, 0.0)[0], 128) for s in scenes for box in s["boxes"]]
        truth = [c for s in scenes for c in s["classes"]]
        on_truth = np.mean(outputs(model, np.stack(crops)).argmax(1) == [classes.index(c) for c in truth])
        line += (f"; the chapter's light VGG: {score['correct'] / score['matched']:.1%} of the matched faces "
                 f"from their detected crops, {on_truth:.1%} of all drawn faces from their ground-truth crops")
    return line


def _by_skin_tone(per_tone: int) -> str:
    from fercourse.photos import found_by_skin_tone

    shares = found_by_skin_tone(per_tone)
    return "faces found per skin tone, lightest to darkest: " + ", ".join(f"{s:.0%}" for s in shares)


def run(quick: bool = False) -> tuple[list[Result], list[str]]:
    from fercourse import photos
    from fercourse.classes import AFFECTNET_CLASSES
    from fercourse.models import light_vgg
    from fercourse.synthetic.frames import compose_scene

    n = 20 if quick else 500
    rng = np.random.default_rng(0)
    scenes = [compose_scene(rng, faces=int(rng.integers(0, 5))) for _ in range(n)]
    images = [s["image"] for s in scenes]
    model = light_vgg(len(AFFECTNET_CLASSES), input_size=128)
    photos.predict(images[:2], model, AFFECTNET_CLASSES)  # traced once, as a user's second call is
    start = time.perf_counter()
    rows = photos.predict(images, model, AFFECTNET_CLASSES)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    plain_faces = _plain(images, model)
    plain = time.perf_counter() - start
    notes = [f"{n} scenes: {n / ours:.1f} vs {n / plain:.1f} images/s; plain loop found {plain_faces} faces",
             _quality(scenes, rows), _by_skin_tone(4 if quick else 40)]
    trained = _chapter_model()
    if trained is not None and not quick:
        notes.append(_quality(scenes, photos.predict(images, trained, AFFECTNET_CLASSES), trained,
                              AFFECTNET_CLASSES))
    result = Result("predict (every face in a scene)", "default Haar cascade, then model.predict on each face, "
                    "one at a time", "predict(): detection in threads, all faces in one batch", [plain], [ours],
                    work=f"{n} scenes of 384x384, 0-4 faces", note="; ".join(notes))
    return [result], notes


def _chapter_model():
    """The chapter's plain light VGG on the built-in set, when it is stored (never trained here)."""
    from fercourse import recipes
    from fercourse.data import load_dataset
    from fercourse.errors import NotInStoreError

    try:
        return recipes.train_light_vgg(load_dataset(announce=False, log=lambda *a: None), verbose=0,
                                       stored_only=True).model
    except NotInStoreError:
        return None


if __name__ == "__main__":
    print_run(run)
