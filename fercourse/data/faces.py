"""Find the face in a frame and crop to it (optionally levelling the eyes) before resizing.

AffectNet's images are face crops, and so is the built-in set; photos of head and shoulders,
webcam frames and many lab sets are not, and resizing a whole frame to 128x128 leaves the
expression a few pixels wide. ``load_dataset(..., faces="crop")`` runs :func:`find_face` on
every file once, while decoding (the result is part of the decoded-image cache):

1. the largest frontal face of OpenCV's Haar cascade (shipped with opencv-python-headless,
   no download), searched on a contrast-equalised (CLAHE) grey copy of at most
   ``DETECTOR.max_side`` pixels (every setting: :class:`DetectorSettings`);
2. with ``faces="align"``, the eye cascade inside the face's upper half: when it finds one eye
   in each half, the crop is rotated so the eyes are level;
3. a square crop around the face, ``margin`` of its side added on each side (pixels outside
   the frame repeat the border).

A frame where no face is found keeps the whole frame; the scan counts and names those files.
"""
from __future__ import annotations

import dataclasses
import math
import os
import threading

import numpy as np

from .. import digests
from .errors import DataError

FACE_MODES = ("as-is", "crop", "align")
DEFAULT_MARGIN = 0.15


@dataclasses.dataclass(frozen=True)
class DetectorSettings:
    """Every setting the face detector and the eye-line measurement use. The same object is
    what they read and what the decoded-image cache key hashes (:meth:`FaceOptions.key`), so
    no setting can change the crops without changing the key.

    The search was chosen on 200 generated frames (``benchmarks/bench_faces.py`` has the full
    run): alt2 on a CLAHE copy found more faces than the default cascade or a global
    equalisation; a scale step of 1.08 with 2 neighbours matched as many boxes as 1.05 with 3 in
    a third of the time, with no false face in 150 frames without one.
    """

    cascade: str = "haarcascade_frontalface_alt2.xml"
    max_side: int = 640            # px: detection cost grows with the pixels; a face is found at this size
    clahe_clip: float = 2.0        # CLAHE evens out lighting locally (a face half in shadow)
    clahe_tiles: int = 8
    scale_factor: float = 1.08
    min_neighbours: int = 2
    min_face_share: float = 0.10   # faces under this share of the frame's shorter side are not searched
    min_face_px: int = 24
    eye_cascade: str = "haarcascade_eye.xml"
    eye_scale_factor: float = 1.05
    eye_min_neighbours: int = 3
    max_eye_angle: float = 30.0    # degrees: a steeper "eye line" is two wrong detections, not a tilted head


DETECTOR = DetectorSettings()


@dataclasses.dataclass(frozen=True)
class FaceOptions:
    """How ``load_dataset`` treats faces: ``mode`` one of ``FACE_MODES``; ``margin`` the share
    of the face's side added on each side of the crop."""

    mode: str = "as-is"
    margin: float = DEFAULT_MARGIN

    @property
    def active(self) -> bool:
        return self.mode != "as-is"

    def key(self) -> dict | None:
        """What the decoded-image cache key needs (None for "as-is": older caches stay valid)."""
        if not self.active:
            return None
        return {"mode": self.mode, "margin": round(float(self.margin), 6), "detector": digests.code_digest(__name__),
                "settings": dataclasses.asdict(DETECTOR)}


def face_options(faces: str | None = None, margin: float | None = None) -> FaceOptions:
    """Validated options; ``faces=None`` reads ``FERCOURSE_FACES`` (default "as-is")."""
    mode = faces if faces is not None else os.environ.get("FERCOURSE_FACES", "as-is")
    if mode not in FACE_MODES:
        source = "faces" if faces is not None else "FERCOURSE_FACES"
        raise DataError(f"{source} must be one of {', '.join(FACE_MODES)}; got {mode!r}")
    margin = DEFAULT_MARGIN if margin is None else float(margin)
    if not 0 <= margin <= 1:
        raise DataError(f"face margin must be between 0 and 1 (a share of the face's side), got {margin}")
    return FaceOptions(mode, margin)


_local = threading.local()
_folder: list[str] = []


def cascade_folder() -> str:
    """Where opencv-python-headless keeps its cascades. Call it from the main thread first:
    OpenCV's package replaces itself by its native module while it is imported, and a first
    import from a decoding thread can come back without ``cv2.data``."""
    if not _folder:
        import cv2
        import cv2.data

        _folder.append(cv2.data.haarcascades)
    return _folder[0]


def _cascade(name: str):
    """A classifier per thread: OpenCV's cascades keep scratch state and are not shared safely."""
    import cv2

    cache = getattr(_local, "cascades", None)
    if cache is None:
        cache = _local.cascades = {}
    if name not in cache:
        folder = cascade_folder()
        classifier = cv2.CascadeClassifier(os.path.join(folder, name))
        if classifier.empty():
            raise RuntimeError(f"OpenCV's {name} is missing from {folder}")
        cache[name] = classifier
    return cache[name]


def _grey(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def detect_faces(image: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Every frontal face in ``image`` ((H, W, 3) RGB or (H, W) grey, uint8) as ``(x, y, w, h)``
    in its pixels, the largest first (the cascade searched as :data:`DETECTOR` says)."""
    import cv2

    settings = DETECTOR
    grey = _grey(image)
    h, w = grey.shape
    scale = min(1.0, settings.max_side / max(h, w))
    small = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA) if scale < 1 else grey
    tiles = (settings.clahe_tiles, settings.clahe_tiles)
    small = cv2.createCLAHE(clipLimit=settings.clahe_clip, tileGridSize=tiles).apply(small)
    smallest = max(settings.min_face_px, int(settings.min_face_share * min(small.shape)))
    found = _cascade(settings.cascade).detectMultiScale(small, scaleFactor=settings.scale_factor,
                                                        minNeighbors=settings.min_neighbours,
                                                        minSize=(smallest, smallest))
    boxes = sorted((tuple(int(v) for v in box) for box in found), key=lambda b: -b[2] * b[3])
    return [(x / scale, y / scale, bw / scale, bh / scale) for x, y, bw, bh in boxes]


def detect_largest_face(image: np.ndarray) -> tuple[float, float, float, float] | None:
    """The largest of :func:`detect_faces`, or None."""
    return next(iter(detect_faces(image)), None)


def eye_angle(image: np.ndarray, box) -> float | None:
    """The tilt of the line through the eyes, in degrees (positive: the right-hand eye of the
    image is lower), from the eye cascade in the upper half of ``box``; None when it does not
    find one eye in each half of the face."""
    import cv2

    x, y, w, h = (int(round(v)) for v in box)
    grey = _grey(image)
    top, left = max(0, y), max(0, x)
    region = grey[top:max(top, y + h // 2 + h // 10), left:max(left, x + w)]
    if region.size == 0:
        return None
    size = max(8, w // 10)
    eyes = _cascade(DETECTOR.eye_cascade).detectMultiScale(
        cv2.equalizeHist(region), scaleFactor=DETECTOR.eye_scale_factor, minNeighbors=DETECTOR.eye_min_neighbours,
        minSize=(size, size), maxSize=(w // 2, w // 2))
    centres = [(left + ex + ew / 2, top + ey + eh / 2, ew * eh) for ex, ey, ew, eh in eyes]
    middle = x + w / 2
    lefts = [c for c in centres if c[0] < middle]
    rights = [c for c in centres if c[0] >= middle]
    if not lefts or not rights:
        return None
    a, b = max(lefts, key=lambda c: c[2]), max(rights, key=lambda c: c[2])
    angle = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))
    return angle if abs(angle) <= DETECTOR.max_eye_angle else None


def crop_box(box, margin: float) -> tuple[float, float, int]:
    """The square cropped around a face ``box`` (x, y, w, h): ``(x0, y0, side)`` in the frame's
    pixels, ``margin`` of the face's longer side added on each side, centred on the face."""
    x, y, w, h = box
    side = max(2, int(round(max(w, h) * (1 + 2 * margin))))
    return x + w / 2 - side / 2, y + h / 2 - side / 2, side


def crop_square(rgb: np.ndarray, box, margin: float, angle: float = 0.0) -> tuple[np.ndarray, tuple]:
    """A square crop around ``box`` with ``margin`` of its side added on each side, rotated by
    ``angle`` degrees about the box's centre (counter-clockwise: it levels an eye line tilted by
    ``angle``). Pixels outside the frame repeat its border. Returns ``(crop (S, S, 3) uint8,
    (x0, y0, S))``: the crop's top-left corner and side in the frame's pixels (before rotation)."""
    import cv2

    x0, y0, side = crop_box(box, margin)
    cx, cy = x0 + side / 2, y0 + side / 2
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    matrix[:, 2] += (side / 2 - cx, side / 2 - cy)
    crop = cv2.warpAffine(rgb, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop, (x0, y0, side)


def find_face(rgb: np.ndarray, options: FaceOptions) -> tuple[np.ndarray, dict]:
    """Apply ``options`` to one decoded frame ((H, W, 3) uint8 RGB).

    Returns ``(image, info)``: the face crop (or the frame itself when no face is found or the
    mode is "as-is") and ``{"face": [x, y, w, h] or None, "angle": degrees or None,
    "crop": [x0, y0, side] or None}`` in the frame's pixels.
    """
    info = {"face": None, "angle": None, "crop": None}
    if not options.active:
        return rgb, info
    box = detect_largest_face(rgb)
    if box is None:
        return rgb, info
    angle = eye_angle(rgb, box) if options.mode == "align" else None
    crop, where = crop_square(rgb, box, options.margin, angle or 0.0)
    info.update(face=[round(v, 1) for v in box], angle=None if angle is None else round(angle, 2),
                crop=[round(v, 1) for v in where])
    return crop, info


def box_iou(a, b) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0
