"""Frames that are not face crops: a generated face placed at a known position, size and
in-plane rotation on a larger scene -- what a webcam frame or a head-and-shoulders photo is to
AffectNet's crops. They test and demonstrate face detection (``fercourse.data.faces``).

The known box of a frame is where the built-in set's crop (``generate.FACE_BOX``) of the same
face lands: detecting the face and cropping should recover about that square.
"""
from __future__ import annotations

import cv2
import numpy as np

from .. import digests
from ..classes import AFFECTNET_CLASSES
from .expressions import sample_expression
from .faces import SKIN_TONES, background, render_face, sample_identity
from .generate import FACE_BOX, GENERATOR_CODE



def compose_frame(rng: np.random.Generator, size: int = 256, *, face: bool = True,
                  face_share: tuple[float, float] = (0.3, 0.7), max_angle: float = 12.0,
                  cls: str | None = None, tone: int | None = None) -> dict:
    """One ``size`` x ``size`` scene. With ``face``, a face of class ``cls`` (random if None)
    whose crop square spans ``face_share`` of the frame's side, rotated by up to
    ``max_angle`` degrees; ``tone``: its skin tone (an index into ``SKIN_TONES``; random if None). Returns {"image" (size, size, 3) uint8 RGB, "box" (x, y, w, h) of
    the crop square in frame pixels or None, "angle" degrees (positive: counter-clockwise on
    screen) or None, "class" or None}."""
    scene = background(rng, size).astype(np.float32)
    if not face:
        return {"image": np.clip(scene, 0, 255).astype(np.uint8), "box": None, "angle": None, "class": None}
    cls = cls or AFFECTNET_CLASSES[int(rng.integers(len(AFFECTNET_CLASSES)))]
    identity = sample_identity(rng)
    if tone is not None:
        identity["skin"] = np.clip(np.asarray(SKIN_TONES[tone], np.float64) + rng.normal(0, 8, 3), 30, 255)
    rgb, alpha, _ = render_face(identity, sample_expression(cls, rng)["aus"])
    x0, y0, x1, y1 = FACE_BOX
    side = float(rng.uniform(*face_share)) * size
    scale = side / (x1 - x0)
    angle = float(rng.uniform(-max_angle, max_angle))
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    half = side / 2
    target = rng.uniform(half, size - half, 2)  # the crop square stays inside the frame
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    matrix[:, 2] += target - centre
    face_layer = cv2.warpAffine(rgb.astype(np.float32), matrix, (size, size), flags=cv2.INTER_AREA)
    cover = cv2.warpAffine(alpha.astype(np.float32), matrix, (size, size), flags=cv2.INTER_LINEAR)[..., None]
    image = scene * (1 - cover) + face_layer * cover
    image = image * rng.uniform(0.8, 1.1) + rng.normal(0, 3, image.shape)
    box = (float(target[0] - half), float(target[1] - half), side, side)
    return {"image": np.clip(image, 0, 255).astype(np.uint8), "box": box, "angle": angle, "class": cls}


def compose_scene(rng: np.random.Generator, size: int = 384, faces: int = 2, *,
                  face_share: tuple[float, float] = (0.22, 0.32), max_angle: float = 8.0) -> dict:
    """One ``size`` x ``size`` scene with ``faces`` faces (0-4) of random classes, their crop
    squares apart from each other. Returns {"image" (size, size, 3) uint8 RGB, "boxes" [(x, y, w,
    h)] of the crop squares in frame pixels, "classes" [class per face]}."""
    scene = background(rng, size).astype(np.float32)
    boxes, classes = [], []
    x0, y0, x1, y1 = FACE_BOX
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    for _ in range(faces):
        cls = AFFECTNET_CLASSES[int(rng.integers(len(AFFECTNET_CLASSES)))]
        side = float(rng.uniform(*face_share)) * size
        for _ in range(200):  # a place that overlaps no face already drawn
            target = rng.uniform(side / 2, size - side / 2, 2)
            box = (float(target[0] - side / 2), float(target[1] - side / 2), side, side)
            if all(box[0] + side <= b[0] or b[0] + b[2] <= box[0] or box[1] + side <= b[1] or b[1] + b[3] <= box[1]
                   for b in boxes):
                break
        else:
            break  # the scene is full
        rgb, alpha, _ = render_face(sample_identity(rng), sample_expression(cls, rng)["aus"])
        matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])),
                                         float(rng.uniform(-max_angle, max_angle)), side / (x1 - x0))
        matrix[:, 2] += target - centre
        layer = cv2.warpAffine(rgb.astype(np.float32), matrix, (size, size), flags=cv2.INTER_AREA)
        cover = cv2.warpAffine(alpha.astype(np.float32), matrix, (size, size), flags=cv2.INTER_LINEAR)[..., None]
        scene = scene * (1 - cover) + layer * cover
        boxes.append(box)
        classes.append(cls)
    image = scene * rng.uniform(0.8, 1.1) + rng.normal(0, 3, scene.shape)
    return {"image": np.clip(image, 0, 255).astype(np.uint8), "boxes": boxes, "classes": classes}


def frames(n: int, seed: int = 0, size: int = 256, **options) -> list[dict]:
    """``n`` frames from one seeded stream (see :func:`compose_frame` for ``options``)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    return [compose_frame(rng, size, **options) for _ in range(n)]


def write_frames(root, per_class: int = 4, seed: int = 0, size: int = 256, *, no_face: int = 1,
                 splits=("Train", "Validation"), grey: bool = False) -> dict[str, tuple | None]:
    """Write an AffectNet-style folder tree of frames (JPEG) under ``root``: ``per_class`` frames
    of every class in each split, the first ``no_face`` of each class without a face; ``grey``
    writes single-channel files. Returns {path relative to root: known box (x, y, w, h) or None}."""
    from pathlib import Path

    root = Path(root)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 18]))
    known = {}
    for split in splits:
        for cls in AFFECTNET_CLASSES:
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                frame = compose_frame(rng, size, face=i >= no_face, cls=cls)
                image = frame["image"]
                pixels = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if grey else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
                name = f"{split}/{cls}/{cls}_{i:04d}.jpg"
                if not cv2.imwrite(str(root / name), pixels, [cv2.IMWRITE_JPEG_QUALITY, 92]):
                    raise RuntimeError(f"OpenCV could not write {root / name}")
                known[name] = frame["box"]
    return known


def ensure_frames(per_class: int = 3, seed: int = 0, size: int = 256):
    """A small frame set (``write_frames``, one frame per class without a face) written once into
    ``<cache>/generated/`` -- a stable folder, so its decoded cache is reused. Returns its root."""
    import json

    from .. import atomic, paths

    code = digests.code_digest(*GENERATOR_CODE, "fercourse.synthetic.frames")[:8]  # a change draws them anew
    root = paths.cache_dir() / "generated" / f"frames-{code}-seed{seed}-{per_class}-{size}px"
    if not (root / "known_boxes.json").exists():
        with atomic.publish_dir(root) as tmp:
            known = write_frames(tmp, per_class, seed, size)
            (tmp / "known_boxes.json").write_text(json.dumps(known, indent=1), encoding="utf-8")
    return root
