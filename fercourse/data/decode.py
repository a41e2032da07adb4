"""Decode one image file of any common kind into a fixed-size RGB uint8 array.

Real copies of AffectNet hold grayscale, palette, RGBA, CMYK and 16-bit files next to
ordinary JPEGs, and the odd corrupt or mis-named one. Everything is decoded here,
once, before training (see ``fercourse.data.scan``), so a bad file is skipped with a
reason instead of crashing an epoch.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
DEFAULT_MAX_PIXELS = 50_000_000  # ~7000 x 7000; larger files are skipped, not decoded


class SkipImage(Exception):
    """Raised for a file that cannot be used; the message is the reason shown to the user."""


def to_rgb_uint8(image) -> np.ndarray:
    """A PIL image in any mode -> (H, W, 3) uint8 RGB.

    16-bit and 32-bit grey are rescaled to 0..255 (not clipped); transparent pixels are
    composited over white; CMYK and palette images are converted by Pillow.
    """
    from PIL import Image

    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(image, dtype=np.float64)
        span = float(arr.max() - arr.min()) or 1.0
        grey = np.rint((arr - arr.min()) / span * 255.0).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def fit_square(rgb: np.ndarray, size: int, keep_aspect: bool = False) -> np.ndarray:
    """Resize (H, W, 3) uint8 to (size, size, 3).

    ``keep_aspect`` scales the longer side to ``size`` and pads the other with black,
    centred, instead of stretching.
    """
    import cv2

    h, w = rgb.shape[:2]
    if not keep_aspect:
        interp = cv2.INTER_AREA if (h > size or w > size) else cv2.INTER_LINEAR
        return cv2.resize(rgb, (size, size), interpolation=interp)
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(rgb, (nw, nh), interpolation=interp)
    out = np.zeros((size, size, 3), dtype=np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = resized
    return out


def open_rgb(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS, reach: int | None = None) -> tuple[np.ndarray, dict]:
    """Read ``path`` as (H, W, 3) uint8 RGB and describe the original: ``{"width", "height",
    "mode", "format"}``. ``reach``: a JPEG may be decoded at a reduced size no smaller than
    ``reach`` pixels a side (the DCT's cheap downscale). Raises :class:`SkipImage` with a readable
    reason for empty, unreadable, corrupt or oversized files."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise SkipImage("empty file (0 bytes)")
    except OSError as err:
        raise SkipImage(f"cannot read the file ({err.strerror or err})") from err
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header only
                width, height = image.size
                info = {"width": width, "height": height, "mode": image.mode, "format": image.format or "?"}
                if width * height > max_pixels:
                    raise SkipImage(f"image too large ({width}x{height} = {width * height:,} pixels; "
                                    f"the limit is {max_pixels:,})")
                if image.format == "JPEG" and reach:
                    image.draft("RGB", (reach, reach))
                image.load()
                return to_rgb_uint8(image), info
    except SkipImage:
        raise
    except UnidentifiedImageError as err:
        raise SkipImage("not an image Pillow can read (wrong extension or unknown format)") from err
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise SkipImage(f"corrupt or truncated image ({err})") from err


def decode_file(path: Path, size: int, keep_aspect: bool = False,
                max_pixels: int = DEFAULT_MAX_PIXELS, faces=None) -> tuple[np.ndarray, dict]:
    """Decode ``path`` to (size, size, 3) uint8 and describe the original (:func:`open_rgb`).

    With ``faces`` (active ``fercourse.data.faces.FaceOptions``) the largest face is cropped
    before resizing and the info gains ``face``, ``angle`` and ``crop`` in the original's pixels
    (None where no face was found: the whole frame is used).
    """
    # A face is only part of the frame: decode 4x larger then, so that its crop is not upsampled.
    rgb, info = open_rgb(path, max_pixels, 8 * size if faces is not None and faces.active else 2 * size)
    if faces is not None and faces.active:
        from .faces import find_face

        ratio = info["width"] / rgb.shape[1]  # a JPEG may have been decoded at a reduced size
        rgb, found = find_face(rgb, faces)
        info["angle"] = found["angle"]
        for key in ("face", "crop"):  # in the original's pixels
            info[key] = None if found[key] is None else [round(v * ratio, 1) for v in found[key]]
    return fit_square(rgb, size, keep_aspect), info
