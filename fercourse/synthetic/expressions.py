"""Expressions as facial action units (FACS), roughly as Ekman & Friesen describe them.

Each class is a prototype: the action units (AUs) it activates, with relative weights.
A sample scales its prototype by an intensity in [0.3, 1] and adds small activations
of other AUs, so weak samples drift towards neutral and classes that share AUs
(fear/surprise: 1+2+5+26; anger/disgust: 4 and narrowed eyes) overlap, as in real data.
"""
from __future__ import annotations

import numpy as np

from ..data.classes import AFFECTNET_CLASSES

# The AUs the renderer knows (FACS number: what it moves).
ACTION_UNITS = {
    "AU1": "inner brow raiser",
    "AU2": "outer brow raiser",
    "AU4": "brow lowerer",
    "AU5": "upper lid raiser",
    "AU6": "cheek raiser (eyes narrow from below)",
    "AU7": "lid tightener",
    "AU9": "nose wrinkler",
    "AU10": "upper lip raiser",
    "AU12": "lip corner puller (smile)",
    "AU14R": "one-sided dimpler / lip corner raise (right)",
    "AU15": "lip corner depressor",
    "AU20": "lip stretcher",
    "AU23": "lip tightener / presser",
    "AU26": "jaw drop (mouth opens)",
}

PROTOTYPES: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"AU6": 0.8, "AU12": 1.0},
    "sad": {"AU1": 1.0, "AU4": 0.4, "AU15": 1.0, "AU7": 0.2},
    "surprise": {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU26": 1.0},
    "fear": {"AU1": 1.0, "AU2": 0.7, "AU4": 0.7, "AU5": 1.0, "AU20": 1.0, "AU26": 0.5},
    "disgust": {"AU9": 1.0, "AU10": 1.0, "AU4": 0.5, "AU15": 0.4, "AU7": 0.4},
    "anger": {"AU4": 1.0, "AU7": 1.0, "AU23": 1.0, "AU5": 0.3},
    "contempt": {"AU14R": 1.0},
}

# Typical (valence, arousal) of each class on Russell's circumplex, AffectNet's scale [-1, 1].
VALENCE_AROUSAL = {
    "neutral": (0.0, 0.0),
    "happy": (0.75, 0.35),
    "sad": (-0.65, -0.3),
    "surprise": (0.2, 0.75),
    "fear": (-0.6, 0.7),
    "disgust": (-0.65, 0.35),
    "anger": (-0.55, 0.65),
    "contempt": (-0.45, 0.2),
}

# Which facial regions each AU moves: the ground-truth "evidence" mask of a sample.
REGION_OF = {
    "AU1": "brows", "AU2": "brows", "AU4": "brows",
    "AU5": "eyes", "AU6": "eyes", "AU7": "eyes",
    "AU9": "nose", "AU10": "mouth",
    "AU12": "mouth", "AU14R": "mouth", "AU15": "mouth", "AU20": "mouth", "AU23": "mouth", "AU26": "mouth",
}
REGION_BITS = {"mouth": 1, "brows": 2, "eyes": 4, "nose": 8}


def sample_expression(cls: str, rng: np.random.Generator) -> dict:
    """AU activations, intensity and (valence, arousal) for one sample of class ``cls``.

    Returns ``{"aus": {AU: value in [0, 1.2]}, "intensity": s, "va": (v, a), "regions": [...]}``.
    """
    if cls not in PROTOTYPES:
        raise ValueError(f"unknown class {cls!r}; expected one of {AFFECTNET_CLASSES}")
    intensity = float(rng.uniform(0.3, 1.0)) if cls != "neutral" else 0.0
    aus = {au: float(rng.uniform(0.0, 0.12)) for au in ACTION_UNITS}  # everyone's face moves a little
    for au, weight in PROTOTYPES[cls].items():
        aus[au] = min(1.2, aus[au] + weight * intensity * float(rng.uniform(0.8, 1.2)))
    # Anger sometimes shouts: open mouth instead of pressed lips.
    if cls == "anger" and rng.random() < 0.3:
        aus["AU26"], aus["AU23"] = 0.7 * intensity + 0.2, 0.1
    # Happiness sometimes shows teeth.
    if cls == "happy" and rng.random() < 0.4:
        aus["AU26"] = max(aus["AU26"], 0.4 * intensity)
    v0, a0 = VALENCE_AROUSAL[cls]
    scale = 0.35 + 0.65 * intensity if cls != "neutral" else 1.0
    va = np.clip(np.array([v0, a0]) * scale + rng.normal(0.0, 0.08, 2), -1.0, 1.0)
    regions = sorted({REGION_OF[au] for au in PROTOTYPES[cls]}) or ["brows", "eyes", "mouth"]
    return {"aus": aus, "intensity": intensity, "va": (float(va[0]), float(va[1])), "regions": regions}
