"""Heat-map overlays with OpenCV's colormaps."""
from __future__ import annotations

import numpy as np


def overlay(image, cam_map, *, alpha: float = 0.45, colormap: str = "JET") -> np.ndarray:
    """Blend a map (H, W) in [0, 1] over an image (H, W, 3) (uint8 or float in [0, 1]).

    Returns uint8 RGB (H, W, 3). ``colormap`` names an OpenCV colormap (``cv2.COLORMAP_*``).
    """
    import cv2

    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    heat = (np.clip(np.asarray(cam_map, np.float32), 0, 1) * 255).astype(np.uint8)
    if heat.shape != image.shape[:2]:
        heat = cv2.resize(heat, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    coloured = cv2.cvtColor(cv2.applyColorMap(heat, getattr(cv2, f"COLORMAP_{colormap}")), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(image, 1 - alpha, coloured, alpha, 0)
