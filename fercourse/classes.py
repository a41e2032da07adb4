"""AffectNet's expression classes and the many ways folders name them.

AffectNet labels expressions 0-7 in this order; copies of the subset name their
folders by word (in any case, sometimes as adjectives) or by number.
"""
from __future__ import annotations

AFFECTNET_CLASSES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")

SYNONYMS = {
    "neutral": ("neutral", "neutrality", "calm"),
    "happy": ("happy", "happiness", "joy", "happiest"),
    "sad": ("sad", "sadness", "sorrow"),
    "surprise": ("surprise", "surprised", "surprising"),
    "fear": ("fear", "fearful", "afraid", "scared"),
    "disgust": ("disgust", "disgusted", "disgusting"),
    "anger": ("anger", "angry", "mad"),
    "contempt": ("contempt", "contemptuous"),
}

_LOOKUP = {alias: name for name, aliases in SYNONYMS.items() for alias in aliases}
_LOOKUP.update({str(i): name for i, name in enumerate(AFFECTNET_CLASSES)})


def canonical_class(folder_name: str) -> str | None:
    """AffectNet's name for a class folder (``"Angry"`` -> ``"anger"``, ``"6"`` -> ``"anger"``).

    Returns None when the name is not a known class.
    """
    key = folder_name.strip().lower().replace("-", "_").replace(" ", "_")
    if key.isdigit():
        key = str(int(key))
    return _LOOKUP.get(key)


def affectnet_order(names) -> list[str]:
    """Canonical class names sorted in AffectNet's label order (0 neutral ... 7 contempt)."""
    return sorted(set(names), key=AFFECTNET_CLASSES.index)
