"""Draw one synthetic face with OpenCV: identity, action units, pose, scene, degradations.

Faces are drawn on a 256 x 256 canvas (for clean anti-aliasing) and reduced to the
output size at the end. Coordinates are (x, y) in canvas pixels, y downwards. Colours
are RGB. Alongside the image, the renderer draws the same geometry into a mask of the
regions that carry the expression (bits: 1 mouth, 2 brows, 4 eyes, 8 nose).
"""
from __future__ import annotations

import cv2
import numpy as np

from .expressions import REGION_BITS

CANVAS = 256
SKIN_TONES = np.array([(255, 224, 196), (241, 194, 160), (224, 172, 128), (198, 134, 96), (161, 102, 72),
                       (120, 74, 52), (92, 58, 40)], dtype=np.float64)
HAIR_COLOURS = np.array([(20, 16, 14), (60, 40, 28), (110, 74, 46), (200, 170, 110), (150, 60, 30),
                         (150, 150, 150)], dtype=np.float64)


_ROWS, _COLS = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32)
_U = (_COLS - 128.0) / 128.0


def _pt(x, y) -> tuple[int, int]:
    return int(round(x)), int(round(y))


def _bezier(p0, p1, p2, n: int = 24) -> np.ndarray:
    """Points of the quadratic Bezier curve p0 -> p2 with control p1, as int32 (n, 2)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    pts = (1 - t) ** 2 * np.asarray(p0, float) + 2 * (1 - t) * t * np.asarray(p1, float) + t**2 * np.asarray(p2, float)
    return np.round(pts).astype(np.int32)


def _colour(c) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(c, 0, 255))


def sample_identity(rng: np.random.Generator) -> dict:
    """Face shape, skin, hair, glasses and beard of one person."""
    tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] + rng.normal(0, 8, 3)
    return {
        "width": rng.uniform(0.86, 1.1), "height": rng.uniform(0.9, 1.08),
        "skin": np.clip(tone, 30, 255),
        "hair": np.clip(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] + rng.normal(0, 6, 3), 0, 255),
        "hair_style": int(rng.choice(3, p=[0.15, 0.55, 0.3])),  # bald, short, long
        "glasses": bool(rng.random() < 0.22),
        "beard": bool(rng.random() < 0.15),
        "iris": _colour(rng.choice([(60, 40, 25), (40, 70, 110), (70, 90, 50), (30, 25, 20)])),
        "eye_gap": rng.uniform(24, 29),
        "mouth_y": rng.uniform(174, 184),
        "brow_y": rng.uniform(96, 104),
    }


def render_face(identity: dict, aus: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the face. Returns (rgb (256, 256, 3) uint8, alpha (256, 256) float in [0, 1],
    regions (256, 256) uint8 bit mask)."""
    a = {k: float(v) for k, v in aus.items()}
    g = lambda k: a.get(k, 0.0)  # noqa: E731 - a short reader for AU values
    img = np.zeros((CANVAS, CANVAS, 3), np.uint8)
    alpha = np.zeros((CANVAS, CANVAS), np.uint8)
    regions = np.zeros((CANVAS, CANVAS), np.uint8)
    skin, hair = identity["skin"], identity["hair"]
    dark_skin = _colour(skin * 0.72)
    cx, cy = 128.0, 140.0
    ax, ay = 64.0 * identity["width"], 84.0 * identity["height"]

    # Behind the face: long hair, neck, ears.
    if identity["hair_style"] == 2:
        cv2.ellipse(img, _pt(cx, cy - 10), _pt(ax + 16, ay + 10), 0, 0, 360, _colour(hair), -1, cv2.LINE_AA)
        cv2.rectangle(img, _pt(cx - ax - 14, cy), _pt(cx + ax + 14, CANVAS), _colour(hair), -1)
        cv2.ellipse(alpha, _pt(cx, cy - 10), _pt(ax + 16, ay + 10), 0, 0, 360, 255, -1, cv2.LINE_AA)
        cv2.rectangle(alpha, _pt(cx - ax - 14, cy), _pt(cx + ax + 14, CANVAS), 255, -1)
    cv2.rectangle(img, _pt(cx - 26, cy + ay - 20), _pt(cx + 26, CANVAS), dark_skin, -1)
    cv2.rectangle(alpha, _pt(cx - 26, cy + ay - 20), _pt(cx + 26, CANVAS), 255, -1)
    for s in (-1, 1):
        cv2.ellipse(img, _pt(cx + s * ax, cy - 4), (9, 17), 0, 0, 360, _colour(skin * 0.9), -1, cv2.LINE_AA)
        cv2.ellipse(alpha, _pt(cx + s * ax, cy - 4), (9, 17), 0, 0, 360, 255, -1, cv2.LINE_AA)
    # The face.
    face_mask = np.zeros_like(alpha)
    cv2.ellipse(face_mask, _pt(cx, cy), _pt(ax, ay), 0, 0, 360, 255, -1, cv2.LINE_AA)
    img[face_mask > 0] = _colour(skin)
    alpha = np.maximum(alpha, face_mask)
    # Soft shading towards the face outline (a little depth).
    dist = cv2.distanceTransform((face_mask > 127).astype(np.uint8), cv2.DIST_L2, 3)
    shade = np.minimum(dist * (0.18 / 18.0), 0.18) + 0.82
    inside = face_mask > 0
    img[inside] = (img[inside] * shade[inside][:, None]).astype(np.uint8)
    # Hair on top of the head.
    if identity["hair_style"] in (1, 2):
        cv2.ellipse(img, _pt(cx, cy - ay + 26), _pt(ax + 3, 34), 0, 180, 360, _colour(hair), -1, cv2.LINE_AA)
        cv2.ellipse(alpha, _pt(cx, cy - ay + 26), _pt(ax + 3, 34), 0, 180, 360, 255, -1, cv2.LINE_AA)
    if identity["beard"]:
        beard = np.zeros_like(alpha)
        cv2.ellipse(beard, _pt(cx, cy + ay * 0.55), _pt(ax * 0.92, ay * 0.5), 0, 0, 360, 255, -1)
        beard = (beard > 0) & (face_mask > 0)
        img[beard] = (0.55 * img[beard] + 0.45 * np.asarray(hair)).astype(np.uint8)

    gap, ey, my, by = identity["eye_gap"], 118.0, identity["mouth_y"], identity["brow_y"]

    # Forehead and glabella lines.
    if g("AU1") + g("AU2") > 1.0:
        for k, y in enumerate((by - 22, by - 14)):
            cv2.ellipse(img, _pt(cx, y + 30), (34 - 6 * k, 30), 0, 240, 300, dark_skin, 1, cv2.LINE_AA)
    if g("AU4") > 0.55:
        for s in (-1, 1):
            cv2.line(img, _pt(cx + s * 4, by + 2), _pt(cx + s * 5, by + 12), dark_skin, 1, cv2.LINE_AA)

    # Brows.
    for s in (-1, 1):
        inner = (cx + s * (10 - 4 * g("AU4")), by - 14 * g("AU1") + 12 * g("AU4"))
        outer = (cx + s * 40, by + 2 - 14 * g("AU2"))
        ctrl = ((inner[0] + outer[0]) / 2, min(inner[1], outer[1]) - 4 - 2 * g("AU2"))
        pts = _bezier(inner, ctrl, outer)
        cv2.polylines(img, [pts], False, _colour(hair * 0.7), 7, cv2.LINE_AA)
        cv2.polylines(regions, [pts], False, REGION_BITS["brows"], 15)

    # Eyes.
    half_h = float(np.clip(6.5 + 7.0 * g("AU5") - 4.5 * g("AU7") - 3.0 * g("AU6"), 1.2, 14.0))
    for s in (-1, 1):
        centre = _pt(cx + s * gap, ey)
        eye = np.zeros_like(alpha)
        cv2.ellipse(eye, centre, (14, int(round(half_h))), 0, 0, 360, 255, -1, cv2.LINE_AA)
        cv2.ellipse(img, centre, (14, int(round(half_h))), 0, 0, 360, (245, 245, 240), -1, cv2.LINE_AA)
        iris = img.copy()
        cv2.circle(iris, centre, 6, identity["iris"], -1, cv2.LINE_AA)
        cv2.circle(iris, centre, 3, (10, 10, 10), -1, cv2.LINE_AA)
        inside = eye > 127
        img[inside] = iris[inside]
        cv2.ellipse(img, centre, (14, int(round(half_h))), 0, 180, 360, (40, 30, 30), 2, cv2.LINE_AA)
        cv2.ellipse(img, centre, (14, int(round(half_h))), 0, 0, 180, dark_skin, 1, cv2.LINE_AA)
        if g("AU6") > 0.35:  # raised cheeks push up a fold under the eye
            cv2.ellipse(img, _pt(centre[0], ey + half_h + 3), (12, 3), 0, 0, 180, dark_skin, 1, cv2.LINE_AA)
        cv2.ellipse(regions, centre, (20, 13), 0, 0, 360, REGION_BITS["eyes"], -1)

    # Nose.
    flare = 7 * (1 + 0.35 * g("AU9"))
    cv2.line(img, _pt(cx + 1, ey), _pt(cx - 3, 148), dark_skin, 1, cv2.LINE_AA)
    for s in (-1, 1):
        cv2.ellipse(img, _pt(cx + s * flare, 152 - 2 * g("AU9")), (4, 2), 0, 0, 360, _colour(skin * 0.45), -1,
                    cv2.LINE_AA)
    if g("AU9") > 0.3:
        for k in range(3):
            y = 124 + 5 * k
            cv2.line(img, _pt(cx - 10, y), _pt(cx + 10, y + 1), dark_skin, 2, cv2.LINE_AA)
    nose_poly = np.array([_pt(cx - 14, 116), _pt(cx + 14, 116), _pt(cx + 18, 160), _pt(cx - 18, 160)], np.int32)
    cv2.fillPoly(regions, [nose_poly], REGION_BITS["nose"])

    # Mouth.
    half_w = 24 + 8 * g("AU12") + 16 * g("AU20") - 8 * g("AU23")
    lift_left = -16 * g("AU12") + 20 * g("AU15") + 3 * g("AU20")
    lift_right = lift_left - 22 * g("AU14R")
    left, right = (cx - half_w, my + lift_left), (cx + half_w, my + lift_right)
    opening = 30 * g("AU26") + 5 * g("AU10")
    upper_ctrl = (cx, my - 3 - 12 * g("AU10") + 8 * g("AU12") - 8 * g("AU15"))
    lower_ctrl = (cx, my + 4 + 2 * opening + 14 * g("AU12") - 6 * g("AU15"))
    upper, lower = _bezier(left, upper_ctrl, right), _bezier(left, lower_ctrl, right)
    lip = _colour(skin * np.array([0.78, 0.5, 0.5]))
    if opening > 2:
        cavity = np.concatenate([upper, lower[::-1]])
        cv2.fillPoly(img, [cavity], (70, 20, 25), cv2.LINE_AA)
        if g("AU12") + g("AU10") > 0.4:  # teeth under the upper lip
            teeth = np.concatenate([upper, upper[::-1] + np.array([0, int(min(7, 0.45 * opening))])])
            cv2.fillPoly(img, [teeth], (235, 235, 225), cv2.LINE_AA)
    thickness = 6 if g("AU23") > 0.5 else 4
    cv2.polylines(img, [upper], False, lip, thickness, cv2.LINE_AA)
    cv2.polylines(img, [lower], False, lip, 3 if g("AU23") > 0.5 else 4, cv2.LINE_AA)
    if g("AU12") + g("AU10") > 0.35:  # nasolabial folds
        for s, corner in ((-1, left), (1, right)):
            fold = _bezier((cx + s * 14, 150), (cx + s * (half_w + 6), 158), (corner[0] + s * 4, corner[1] + 2))
            cv2.polylines(img, [fold], False, dark_skin, 1, cv2.LINE_AA)
    if g("AU14R") > 0.35:  # the contempt dimple
        cv2.ellipse(img, _pt(right[0] + 4, right[1]), (3, 5), 0, 270, 450, dark_skin, 1, cv2.LINE_AA)
    cv2.ellipse(regions, _pt(cx, my + opening / 2), _pt(half_w + 10, 15 + opening / 2), 0, 0, 360,
                REGION_BITS["mouth"], -1)

    # Glasses last: they sit on top of everything.
    if identity["glasses"]:
        frame = (25, 25, 30)
        for s in (-1, 1):
            cv2.circle(img, _pt(cx + s * gap, ey), 18, frame, 2, cv2.LINE_AA)
        cv2.line(img, _pt(cx - gap + 18, ey - 2), _pt(cx + gap - 18, ey - 2), frame, 2, cv2.LINE_AA)
    return img, alpha.astype(np.float64) / 255.0, regions


def background(rng: np.random.Generator, size: int = CANVAS) -> np.ndarray:
    """A cluttered scene: a colour gradient, random shapes, defocus blur. (size, size, 3) uint8."""
    c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    ramp = np.linspace(0, 1, size)[:, None] * (c1 - c0) + c0  # (size, 3)
    strip = ramp.astype(np.uint8)[None, :, :]
    img = np.ascontiguousarray(np.broadcast_to(strip, (size, size, 3)))
    if rng.random() < 0.5:
        img = np.ascontiguousarray(img.transpose(1, 0, 2))
    for _ in range(int(rng.integers(2, 8))):
        colour = _colour(rng.uniform(0, 255, 3))
        kind = rng.integers(3)
        p, q = rng.integers(0, size, 2), rng.integers(0, size, 2)
        if kind == 0:
            cv2.rectangle(img, _pt(*p), _pt(*q), colour, -1)
        elif kind == 1:
            cv2.circle(img, _pt(*p), int(rng.integers(8, 60)), colour, -1, cv2.LINE_AA)
        else:
            cv2.line(img, _pt(*p), _pt(*q), colour, int(rng.integers(2, 10)), cv2.LINE_AA)
    sigma = rng.uniform(2.0, 6.0)
    return cv2.GaussianBlur(img, (0, 0), sigma)


def sample_pose(rng: np.random.Generator) -> dict:
    """In-plane rotation (degrees), scale, shift (canvas pixels) and a slight yaw in [-0.25, 0.25]."""
    return {"angle": rng.uniform(-12, 12), "scale": rng.uniform(0.92, 1.12),
            "dx": rng.uniform(-12, 12), "dy": rng.uniform(-10, 10), "yaw": rng.uniform(-0.25, 0.25)}


def apply_pose(layers: list[np.ndarray], pose: dict, nearest: list[bool]) -> list[np.ndarray]:
    """Warp each layer with the same rotation/scale/shift and asymmetric horizontal squeeze (yaw)."""
    m = cv2.getRotationMatrix2D((128.0, 140.0), pose["angle"], pose["scale"])
    m[:, 2] += (pose["dx"], pose["dy"])
    # Yaw: one side of the face compresses while the other stretches, as when turning the head.
    map_x = (128.0 + 128.0 * (_U + pose["yaw"] * (1 - _U**2) * 0.5)).astype(np.float32)
    ys = _ROWS
    out = []
    for layer, near in zip(layers, nearest):
        interp = cv2.INTER_NEAREST if near else cv2.INTER_LINEAR
        warped = cv2.warpAffine(layer, m, (CANVAS, CANVAS), flags=interp, borderMode=cv2.BORDER_CONSTANT)
        out.append(cv2.remap(warped, map_x, ys, interp, borderMode=cv2.BORDER_CONSTANT))
    return out


def occluder(rng: np.random.Generator, skin) -> tuple[np.ndarray, np.ndarray] | None:
    """With probability 0.2, a hand or an object over part of the face: (rgb, mask) or None."""
    if rng.random() >= 0.12:
        return None
    img = np.zeros((CANVAS, CANVAS, 3), np.uint8)
    mask = np.zeros((CANVAS, CANVAS), np.uint8)
    centre = _pt(128 + rng.uniform(-55, 55), 140 + rng.uniform(-45, 65))
    if rng.random() < 0.5:  # a hand
        axes, angle = _pt(rng.uniform(22, 34), rng.uniform(30, 44)), rng.uniform(0, 180)
        colour = _colour(np.asarray(skin) * rng.uniform(0.85, 1.05))
        cv2.ellipse(img, centre, axes, angle, 0, 360, colour, -1, cv2.LINE_AA)
        cv2.ellipse(mask, centre, axes, angle, 0, 360, 255, -1, cv2.LINE_AA)
        for k in range(3):
            offset = (k - 1) * 9
            cv2.line(img, _pt(centre[0] + offset, centre[1] - 20), _pt(centre[0] + offset, centre[1] + 10),
                     _colour(np.asarray(colour) * 0.75), 1, cv2.LINE_AA)
    else:  # an object: a cup, a phone, a microphone...
        w, h = rng.uniform(20, 50), rng.uniform(25, 60)
        p, q = _pt(centre[0] - w / 2, centre[1] - h / 2), _pt(centre[0] + w / 2, centre[1] + h / 2)
        cv2.rectangle(img, p, q, _colour(rng.uniform(0, 255, 3)), -1)
        cv2.rectangle(mask, p, q, 255, -1)
    return img, mask
