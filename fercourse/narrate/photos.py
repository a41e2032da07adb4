"""Sentences about faces found in photos (:func:`fercourse.photos.score_scenes`)."""
from __future__ import annotations


def photo_sentence(score: dict, tones: list[float] | None = None) -> str:
    """What detection and classification did on scenes with known faces, and, from
    :func:`fercourse.photos.found_by_skin_tone` (lightest first), whether darker faces are found
    less often (more than 10 points below the lightest)."""
    text = (f"Of the {score['drawn']} faces drawn, the detector found {score['matched']} where they were drawn "
            f"(and {score['false']} where none was); the classifier named the expression drawn on "
            f"{score['correct']} of those {score['matched']}.")
    if tones:
        shares = ", ".join(f"{t:.0%}" for t in tones)
        uneven = tones[-1] < tones[0] - 0.1
        text += (f" Per skin tone of the generator, lightest to darkest, it finds {shares} of the faces"
                 + (": darker faces are missed more often, and a face that is missed is never classified."
                    if uneven else ": about as often for every tone."))
    return text
