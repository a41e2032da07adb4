"""Your own photos: every face in them, its expression, valence/arousal and the map behind it.

    from fercourse.photos import predict
    faces = predict(["me.jpg", "group/"], model, data.classes, faces="crop", cam="gradcam")
    for face in faces: print(face.path, face.face, face.label, face.probabilities[face.label])

Images are read in threads (files: any format the data loader reads; NumPy arrays: (H, W, 3)
uint8 RGB), every face the detector finds is cropped as the loader crops (``faces="crop"`` or
``"align"``; ``"as-is"`` takes the whole image, as for AffectNet's face crops), and the crops of
all images go through the network together (:func:`fercourse.inference.outputs`). An image with
no face is classified whole, with ``face=None``, as the loader does; a file that cannot be used
gives one row with its ``error`` and the rest still run. Nothing is written.
"""
from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .data.decode import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, SkipImage, fit_square, open_rgb
from .data.faces import DEFAULT_MARGIN, FACE_MODES, crop_square, detect_faces, eye_angle
from .figures import axes_for, drawn
from .inference import outputs

CAM_METHODS = ("gradcam", "gradcam++", "scorecam", "none")


@dataclasses.dataclass
class FacePrediction:
    """One face (or one whole image without a face, or one file that failed)."""

    path: str | None  # the file, or None for an array passed in
    image: int  # position of the image among the inputs (folders expanded)
    face: list[float] | None  # [x, y, w, h] in the original's pixels; None: no face, the whole image
    region: list[float] | None = None  # [x0, y0, side]: the square the crop was cut from (original px)
    label: str | None = None  # the most probable class; None when ``error``
    probabilities: dict[str, float] = dataclasses.field(default_factory=dict)
    valence: float | None = None
    arousal: float | None = None
    error: str | None = None  # why the file was skipped
    crop: np.ndarray | None = dataclasses.field(default=None, repr=False)  # (S, S, 3) uint8: the model's input
    cam: np.ndarray | None = dataclasses.field(default=None, repr=False)  # (S, S) in [0, 1] over ``crop``

    def row(self) -> dict:
        """The JSON-ready fields (no arrays)."""
        return {"path": self.path, "image": self.image, "face": self.face, "label": self.label,
                "probabilities": self.probabilities, "valence": self.valence, "arousal": self.arousal,
                "error": self.error}


def image_files(paths) -> list[Path]:
    """Files and folders (searched recursively for image files, sorted) as one list of files."""
    found = []
    for item in map(Path, paths):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        else:
            found.append(item)
    return found


def _inputs(images_or_paths) -> list[tuple[str | None, object]]:
    """``(path or None, path or array)`` per image: a path, a list of paths and arrays, or an
    array of one image (H, W, 3) or of several (N, H, W, 3)."""
    if isinstance(images_or_paths, np.ndarray):
        batch = images_or_paths[None] if images_or_paths.ndim == 3 else images_or_paths
        return [(None, image) for image in batch]
    if isinstance(images_or_paths, (str, Path)):
        images_or_paths = [images_or_paths]
    out = []
    for item in images_or_paths:
        if isinstance(item, np.ndarray):
            out.append((None, item))
        else:
            out += [(str(path), path) for path in image_files([item])]
    return out


def _faces_of(source, size: int, mode: str, margin: float, max_pixels: int):
    """``(crops (K, S, S, 3) uint8, boxes [x, y, w, h] or None, regions [x0, y0, side] or None)``
    of one image; SkipImage for a file that cannot be used."""
    if isinstance(source, np.ndarray):
        rgb = np.asarray(source)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise SkipImage(f"an array image must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
        ratio = 1.0
    else:
        rgb, info = open_rgb(source, max_pixels, 8 * size)
        ratio = info["width"] / rgb.shape[1]  # a JPEG may have been decoded at a reduced size
    boxes = detect_faces(rgb) if mode != "as-is" else []
    if not boxes:
        return [fit_square(rgb, size)], [None], [None]
    crops, regions = [], []
    for box in boxes:
        angle = eye_angle(rgb, box) if mode == "align" else None
        crop, region = crop_square(rgb, box, margin, angle or 0.0)
        crops.append(fit_square(crop, size))
        regions.append([round(v * ratio, 1) for v in region])
    return crops, [[round(v * ratio, 1) for v in box] for box in boxes], regions


def predict(images_or_paths, model, classes, *, faces: str = "crop", margin: float = DEFAULT_MARGIN,
            cam: str = "none", valence_arousal=None, batch_size: int = 64, max_pixels: int = DEFAULT_MAX_PIXELS,
            progress: bool = False) -> list[FacePrediction]:
    """Every face of every image, classified by ``model`` (a trained Keras classifier whose input
    is (S, S, 3) in [0, 1]) into ``classes``; one :class:`FacePrediction` per face, in input order.

    ``cam``: "gradcam", "gradcam++" or "scorecam" adds each face's map of its top class;
    ``valence_arousal``: a Keras model with two outputs (the light VGG's VA head) adds those.
    """
    from tqdm.auto import tqdm

    if faces not in FACE_MODES:
        raise ValueError(f"faces must be one of {', '.join(FACE_MODES)}; got {faces!r}")
    if cam not in CAM_METHODS:
        raise ValueError(f"cam must be one of {', '.join(CAM_METHODS)}; got {cam!r}")
    size = int(model.input_shape[1])
    inputs = _inputs(images_or_paths)

    def read(item):
        try:
            return _faces_of(item[1], size, faces, margin, max_pixels)
        except SkipImage as err:
            return str(err)

    rows, crops = [], []
    with ThreadPoolExecutor(max_workers=4) as pool:  # Pillow and OpenCV release the GIL
        for index, ((path, _), found) in enumerate(tqdm(zip(inputs, pool.map(read, inputs)), total=len(inputs),
                                                        disable=not progress, unit="img", desc="faces")):
            if isinstance(found, str):
                rows.append(FacePrediction(path, index, None, error=found))
                continue
            for crop, box, region in zip(*found):
                rows.append(FacePrediction(path, index, box, region, crop=crop))
                crops.append(crop)
    faced = [row for row in rows if row.error is None]
    if not faced:
        return rows
    batch = np.stack(crops)
    proba = outputs(model, batch, batch_size=batch_size)
    va = outputs(valence_arousal, batch, batch_size=batch_size) if valence_arousal is not None else None
    top = proba.argmax(axis=1)
    maps = _maps(model, batch, top, cam) if cam != "none" else None
    for i, row in enumerate(faced):
        row.label = classes[int(top[i])]
        row.probabilities = {name: round(float(p), 6) for name, p in zip(classes, proba[i])}
        if va is not None:
            row.valence, row.arousal = round(float(va[i, 0]), 4), round(float(va[i, 1]), 4)
        if maps is not None:
            row.cam = maps[i]
    return rows


def _maps(model, batch: np.ndarray, classes: np.ndarray, method: str) -> np.ndarray:
    from .cam import GradCAM, GradCAMPlusPlus, ScoreCAM

    kind = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "scorecam": ScoreCAM}[method]
    return np.asarray(kind(model)(batch.astype(np.float32) / 255.0, classes=classes), np.float32)


def table(rows: list[FacePrediction]):
    """One line per face (pandas DataFrame): file, face box, top class and its probability,
    valence/arousal when known, and the error of a file that failed."""
    import pandas as pd

    return pd.DataFrame([{"path": row.path if row.path is not None else f"<array {row.image}>",
                          "face": "none" if row.face is None else " ".join(f"{v:.0f}" for v in row.face),
                          "label": row.label or "", "p": row.probabilities.get(row.label, np.nan),
                          **({"valence": row.valence, "arousal": row.arousal} if row.valence is not None else {}),
                          "error": row.error or ""} for row in rows])


def format_rows(rows: list[FacePrediction], kind: str = "table") -> str:
    """The rows as text: ``"table"`` (aligned columns), ``"json"`` (JSON Lines, one object per
    face or failed file) or ``"csv"`` (one column per class probability)."""
    import io
    import json

    if kind == "json":
        return "\n".join(json.dumps(row.row()) for row in rows)
    if kind == "csv":
        import pandas as pd

        flat = [{**{k: v for k, v in row.row().items() if k not in ("probabilities", "face")},
                 "face": "" if row.face is None else " ".join(str(v) for v in row.face),
                 **{f"p_{name}": p for name, p in row.probabilities.items()}} for row in rows]
        buffer = io.StringIO()
        pd.DataFrame(flat).to_csv(buffer, index=False)
        return buffer.getvalue().rstrip("\n")
    if kind != "table":
        raise ValueError(f"kind must be table, json or csv; got {kind!r}")
    return table(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}")


def annotate(rgb: np.ndarray, rows: list[FacePrediction]) -> np.ndarray:
    """A copy of ``rgb`` (H, W, 3) uint8 with each face's box, label and probability, and its
    class map (where computed) blended over the face."""
    import cv2

    from .cam.overlay import overlay

    out = rgb.copy()
    height, width = out.shape[:2]
    thick = max(1, round(min(height, width) / 250))
    for row in rows:
        if row.error is not None:
            continue
        x, y, w, h = row.face if row.face is not None else (0, 0, width, height)
        if row.cam is not None:  # the map covers the square the crop came from: resize, keep what is inside
            rx, ry, side = row.region or (0, 0, None)
            heat = cv2.resize(row.cam, (int(round(side or width)), int(round(side or height))))
            left, top = int(round(rx)), int(round(ry))
            a0, b0 = max(0, left), max(0, top)
            a1, b1 = min(width, left + heat.shape[1]), min(height, top + heat.shape[0])
            if a1 > a0 and b1 > b0:
                out[b0:b1, a0:a1] = overlay(out[b0:b1, a0:a1], heat[b0 - top:b1 - top, a0 - left:a1 - left])
        x0, y0, x1, y1 = (int(round(v)) for v in (x, y, x + w, y + h))
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (255, 220, 0), thick)
        text = f"{row.label} {row.probabilities[row.label]:.2f}"
        (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, thick)
        at = (max(0, min(x0 + 2, width - text_w - 2)), y0 - 4 if y0 - 4 >= text_h else min(height - 2, y1 + text_h + 4))
        cv2.putText(out, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, (255, 220, 0), thick, cv2.LINE_AA)
    return out


def write_outputs(rows: list[FacePrediction], folder, kind: str, classes) -> list[Path]:
    """Into ``folder`` (created; nothing is written elsewhere): ``predictions.jsonl`` (or
    ``.csv``) and, per image read from a file, ``<n>-<name>.annotated.png`` (:func:`annotate`).
    Returns the files written."""
    import cv2

    from . import atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = "predictions.csv" if kind == "csv" else "predictions.jsonl"
    written = [atomic.write_text(folder / name, format_rows(rows, "csv" if kind == "csv" else "json") + "\n")]
    by_image: dict[int, list[FacePrediction]] = {}
    for row in rows:
        by_image.setdefault(row.image, []).append(row)
    for index, faces in by_image.items():
        if faces[0].path is None or faces[0].error is not None:
            continue
        rgb, _ = open_rgb(Path(faces[0].path))
        ok, png = cv2.imencode(".png", cv2.cvtColor(annotate(rgb, faces), cv2.COLOR_RGB2BGR))
        written.append(atomic.write_bytes(folder / f"{index:04d}-{Path(faces[0].path).stem}.annotated.png",
                                          png.tobytes()))
    return written


@dataclasses.dataclass
class PhotoDisplay:
    """An image with its faces' boxes, labels and class maps (drawn as :mod:`fercourse.figures` says)."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    rows: list[FacePrediction]  # this image's faces
    title: str = ""

    @classmethod
    def from_predictions(cls, image: np.ndarray, rows: list[FacePrediction], title: str = "", *, ax=None,
                         draw: bool = True) -> "PhotoDisplay":
        """``rows``: :func:`predict`'s faces of ``image`` (all rows of one image)."""
        return drawn(cls(np.asarray(image), list(rows), title), draw, ax)

    def plot(self, ax=None):
        self.figure_, self.ax_ = axes_for(ax, (1, 1), (5, 5))
        self.ax_.imshow(annotate(self.image, self.rows))
        self.ax_.set_axis_off()
        found = sum(row.face is not None for row in self.rows)
        self.ax_.set_title(self.title or f"{found} face(s) found", fontsize=9)
        return self


def score_scenes(rows: list[FacePrediction], scenes: list[dict]) -> dict:
    """How :func:`predict` did on generated scenes with known faces (``compose_scene``'s
    ``boxes`` and ``classes``, one scene per input image): faces drawn, found, matched to a drawn
    box at IoU >= 0.5, false (overlapping no drawn face at IoU >= 0.3), and matched faces whose
    label is the class drawn."""
    from .data.faces import box_iou

    out = {"drawn": 0, "found": 0, "matched": 0, "false": 0, "correct": 0}
    for index, scene in enumerate(scenes):
        mine = [r for r in rows if r.image == index and r.face is not None]
        out["drawn"] += len(scene["boxes"])
        out["found"] += len(mine)
        out["false"] += sum(not any(box_iou(r.face, b) >= 0.3 for b in scene["boxes"]) for r in mine)
        for box, cls in zip(scene["boxes"], scene["classes"]):
            best = max(mine, key=lambda r: box_iou(r.face, box), default=None)
            if best is not None and box_iou(best.face, box) >= 0.5:
                out["matched"] += 1
                out["correct"] += best.label == cls
    return out


def found_by_skin_tone(per_tone: int = 20, seed: int = 0) -> list[float]:
    """The share of faces :func:`predict`'s detector finds for each skin tone of the built-in
    generator, lightest first: ``per_tone`` frames of one upright 128 px face at a random place on
    a 256 px background, per tone. (Haar cascades can find darker faces less often: this measures
    whether they do here.)"""
    from .synthetic.faces import SKIN_TONES
    from .synthetic.frames import compose_frame

    rng = np.random.default_rng(seed)
    frames = [[compose_frame(rng, 256, tone=tone, face_share=(0.5, 0.5), max_angle=0.0)["image"]
               for _ in range(per_tone)] for tone in range(len(SKIN_TONES))]
    return [float(np.mean([bool(detect_faces(frame)) for frame in tone])) for tone in frames]
