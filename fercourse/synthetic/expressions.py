"""Expressions as facial action units (FACS), roughly as Ekman & Friesen describe them.

Each class is a prototype: the action units (AUs) it activates, with relative weights.
A sample scales its prototype by an intensity in [0.3, 1] and adds small activations
of other AUs, so weak samples drift towards neutral and classes that share AUs
(fear/surprise: 1+2+5+26; anger/disgust: 4 and narrowed eyes) overlap, as in real data.
"""
from __future__ import annotations

import numpy as np

from ..classes import AFFECTNET_CLASSES

# Expression intensity is drawn from [INTENSITY_LOW, 1]: calibrated (benchmarks/calibrate_synthetic.py)
# so that the light VGG learns the set in the book's quick budget while weak samples stay ambiguous.
INTENSITY_LOW = 0.45

# A share of the samples of each class also shows part of its most confusable neighbour's AUs.
BLEND_PROBABILITY = 0.2
CONFUSABLE = {"neutral": "sad", "happy": "contempt", "sad": "neutral", "surprise": "fear", "fear": "surprise",
              "disgust": "anger", "anger": "disgust", "contempt": "happy"}

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

    Returns ``{"aus": {AU: value in [0, 1.2]}, "intensity": s, "va": (v, a), "regions": [...],
    "blend": the confusable class whose AUs were mixed in, or None}``.
    """
    if cls not in PROTOTYPES:
        raise ValueError(f"unknown class {cls!r}; expected one of {AFFECTNET_CLASSES}")
    intensity = float(rng.uniform(INTENSITY_LOW, 1.0)) if cls != "neutral" else 0.0
    aus = {au: float(rng.uniform(0.0, 0.12)) for au in ACTION_UNITS}  # everyone's face moves a little
    # Some faces are ambiguous, as in real data: their own expression is weaker and they also
    # carry part of the expression easiest to mistake for theirs (fear/surprise, anger/disgust,
    # weak sad/neutral, contempt/happy). Drawn for every sample: the random stream stays aligned.
    blend, mix = rng.random() < BLEND_PROBABILITY, float(rng.uniform(0.3, 0.8))
    own = 1.0 - 0.5 * mix if blend else 1.0
    for au, weight in PROTOTYPES[cls].items():
        aus[au] = min(1.2, aus[au] + own * weight * intensity * float(rng.uniform(0.8, 1.2)))
    if blend:
        other = CONFUSABLE[cls]
        strength = mix * (intensity if cls != "neutral" else float(rng.uniform(INTENSITY_LOW, 0.7)))
        for au, weight in PROTOTYPES[other].items():
            aus[au] = min(1.2, max(aus[au], weight * strength))
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
    return {"aus": aus, "intensity": intensity, "va": (float(va[0]), float(va[1])), "regions": regions,
            "blend": CONFUSABLE[cls] if blend else None}


def shared_action_units(threshold: float = 0.3) -> "object":
    """Which prototype AUs each pair of classes shares (weight >= ``threshold`` in both).

    Returns a pandas DataFrame, classes x classes, of strings such as ``"AU1 AU2 AU5"``
    (empty where nothing is shared; the diagonal lists each class's own AUs). Classes that
    share AUs are the ones a model is expected to confuse.
    """
    import pandas as pd

    strong = {c: {au for au, w in PROTOTYPES[c].items() if w >= threshold} for c in AFFECTNET_CLASSES}
    order = list(ACTION_UNITS)
    cell = lambda a, b: " ".join(au for au in order if au in strong[a] & strong[b])  # noqa: E731
    return pd.DataFrame([[cell(a, b) for b in AFFECTNET_CLASSES] for a in AFFECTNET_CLASSES],
                        index=list(AFFECTNET_CLASSES), columns=list(AFFECTNET_CLASSES))


def action_unit_matrix(classes: list[str], rngs) -> np.ndarray:
    """The sampled AU intensities (N, len(ACTION_UNITS)) of samples whose streams are ``rngs``.

    Uses the same first draws as the image generator, so row i is exactly what sample i's
    face was drawn from: the input of the set's "ceiling" classifier (how separable the
    classes are before any pixel is drawn).
    """
    rows = [sample_expression(c, rng)["aus"] for c, rng in zip(classes, rngs)]
    return np.array([[row[au] for au in ACTION_UNITS] for row in rows])
