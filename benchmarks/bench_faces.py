"""Face detection in the data path (``load_dataset(..., faces="crop")``): its cost on frames.

    .venv/bin/python benchmarks/bench_faces.py

Work: 1,000 generated 256x256 frames (``fercourse.synthetic.frames``, a face at a known place
in four of five). Baseline: a plain loop as the FER packages' examples write it -- read each file
with OpenCV, run the default frontal-face cascade with its default settings, crop the largest
face, resize -- one thread. fercourse: a cold ``load_dataset(faces="crop")`` (scan, decode,
detect, crop, resize, cache) on its decoding threads. Also printed: the same load without
detection, the share of faces found and of crops that match the known box (IoU >= 0.5).
Goal: under 30 s for the 1,000 frames on 2 cores.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Result, print_run  # noqa: E402


def _plain(root: Path, files: list[str]) -> int:
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = 0
    for name in files:
        bgr = cv2.imread(str(root / name))
        faces = cascade.detectMultiScale(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        if len(faces):
            x, y, w, h = max(faces, key=lambda b: b[2] * b[3])
            bgr = bgr[y:y + h, x:x + w]
            found += 1
        cv2.resize(bgr, (128, 128), interpolation=cv2.INTER_AREA)
    return found


def run(quick: bool = False) -> tuple[list[Result], list[str]]:
    from fercourse.data import load_dataset
    from fercourse.data.faces import box_iou, crop_box
    from fercourse.synthetic.frames import write_frames

    per_class = 3 if quick else 63  # x 8 classes x 2 splits = 48 or 1,008 frames
    previous = os.environ.get("FERCOURSE_CACHE")
    with tempfile.TemporaryDirectory(prefix="fercourse-faces-") as tmp:
        root = Path(tmp) / "frames"
        known = write_frames(root, per_class=per_class, seed=0, no_face=per_class // 5)
        files = sorted(known)
        try:
            times = {}
            for label, faces in (("as-is", "as-is"), ("crop", "crop")):
                os.environ["FERCOURSE_CACHE"] = str(Path(tmp) / f"cache-{label}")  # cold every time
                start = time.perf_counter()
                data = load_dataset(root, faces=faces, progress=False, announce=False, log=lambda *a: None)
                times[label] = time.perf_counter() - start
            start = time.perf_counter()
            plain_found = _plain(root, files)
            t_plain = time.perf_counter() - start
        finally:
            if previous is None:
                os.environ.pop("FERCOURSE_CACHE", None)
            else:
                os.environ["FERCOURSE_CACHE"] = previous
    with_face = [f for f in files if known[f] is not None]
    found = matched = 0
    for split in data.splits.values():
        for name, box in zip(split.files, split.faces):
            if known[name] is None or np.isnan(box[0]):
                continue
            found += 1
            x0, y0, side = crop_box(box[:4], data.face_options.margin)
            matched += box_iou((x0, y0, side, side), known[name]) >= 0.5
    n = len(files)
    note = (f"{n} frames of 256x256: {times['crop']:.1f} s with detection ({1000 * times['crop'] / n:.1f} ms a "
            f"frame), {times['as-is']:.1f} s without; faces found in {found}/{len(with_face)} (crop matches the "
            f"known box in {matched}), plain loop {plain_found}/{len(with_face)}")
    result = Result("face detection (load_dataset faces=crop)", "cv2.imread + default Haar cascade, default "
                    "settings, one thread", "cold load_dataset(faces='crop'): decode, detect, crop, cache; threads",
                    [t_plain], [times["crop"]], work=f"{n} frames of 256x256", note=note)
    return [result], [note]


if __name__ == "__main__":
    print_run(run)
