"""Numbers for comparing explanation maps, so that methods are judged by more than the eye.

* Deletion / insertion (Petsiuk et al. 2018, RISE): remove (or reveal) pixels in the map's
  order, most important first, and follow the class probability; the area under the curve
  (x = fraction of pixels, y = probability) is low for deletion and high for insertion when
  the map is faithful. A random map, ranked the same way, is the baseline.
* On the built-in set, where the generator stores the regions each face's action units move:
  the pointing game (is the map's peak inside the region?) and the share of the map's energy
  inside the region, each against its chance level (the region's share of the image).
"""
from __future__ import annotations

import dataclasses

import numpy as np


def random_maps(shape, seed: int = 0) -> np.ndarray:
    """Uniform random maps (B, H, W): the baseline every method must beat."""
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _blurred(images: np.ndarray) -> np.ndarray:
    import cv2

    return np.stack([cv2.GaussianBlur(image, (0, 0), sigmaX=6) for image in images]).astype(np.float32)


@dataclasses.dataclass
class PerturbationCurves:
    """Class probability (N, steps + 1) against the fraction of pixels changed (steps + 1,)."""

    kind: str  # "deletion" or "insertion"
    fractions: np.ndarray
    probabilities: np.ndarray

    @property
    def auc(self) -> np.ndarray:
        """Area under each image's curve (N,), trapezoid rule over fractions in [0, 1]."""
        return np.trapezoid(self.probabilities, self.fractions, axis=1)

    @property
    def mean_curve(self) -> np.ndarray:
        return self.probabilities.mean(axis=0)


def perturbation_curves(model, images, maps, classes, *, kind: str = "deletion", steps: int = 16,
                        baseline: str = "blur", batch_size: int = 128) -> PerturbationCurves:
    """Deletion or insertion curves of ``model`` for ``images`` (N, H, W, 3) in [0, 1] ranked
    by ``maps`` (N, H, W), following ``classes`` (N,).

    Deletion replaces the top-ranked pixels by the ``baseline`` image ("blur": a Gaussian blur
    of the image, so no sharp artificial edges are added; "zero": black); insertion starts from
    the baseline and puts them back. Computed once per (model, images, maps, classes, settings):
    the curves are cached (``fercourse.memo``).
    """
    from ..memo import cached_array

    if kind not in ("deletion", "insertion"):
        raise ValueError(f"kind must be 'deletion' or 'insertion', got {kind!r}")
    images = np.asarray(images, np.float32)
    maps = np.asarray(maps, np.float32)
    if maps.shape != images.shape[:3]:
        raise ValueError(f"maps {maps.shape} must match the images' (N, H, W) {images.shape[:3]}")
    classes = np.asarray(classes, np.int64)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    out = cached_array("perturbation", (model, images, maps, classes, kind, steps, baseline),
                       lambda: _probabilities(model, images, maps, classes, kind, fractions, baseline, batch_size))
    return PerturbationCurves(kind, fractions, out)


def _probabilities(model, images, maps, classes, kind, fractions, baseline, batch_size) -> np.ndarray:
    """(N, steps + 1): the class probability after each step of :func:`perturbation_curves`."""
    base = _blurred(images) if baseline == "blur" else np.zeros_like(images)
    n, pixels = len(images), int(np.prod(images.shape[1:3]))
    # rank[i, p] = position of pixel p in image i's order (0 = most important); ties broken by index
    order = np.argsort(-maps.reshape(n, pixels), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(pixels)[None].repeat(n, 0), axis=1)
    rank = rank.reshape(maps.shape)
    out = np.zeros((n, len(fractions)), np.float32)
    for s, fraction in enumerate(fractions):
        changed = (rank < int(round(fraction * pixels)))[..., None]
        if kind == "deletion":
            perturbed = np.where(changed, base, images)
        else:
            perturbed = np.where(changed, images, base)
        for start in range(0, n, batch_size):
            chunk = slice(start, start + batch_size)
            # predict_on_batch runs Keras' compiled predict step: ~2x an eager call here
            probabilities = np.asarray(model.predict_on_batch(perturbed[chunk]), np.float32)
            out[chunk, s] = probabilities[np.arange(len(probabilities)), classes[chunk]]
    return out


def region_masks(masks) -> np.ndarray:
    """Boolean region masks (N, H, W) from the generator's bit masks (any region set)."""
    return np.asarray(masks) > 0


def pointing_game(maps, masks) -> np.ndarray:
    """Per image: 1.0 if the map's highest pixel lies in the region, 0.0 if not, NaN for an
    empty region (every region hidden by an occluder)."""
    maps, regions = np.asarray(maps), region_masks(masks)
    n = len(maps)
    peak = np.argmax(maps.reshape(n, -1), axis=1)
    hit = regions.reshape(n, -1)[np.arange(n), peak].astype(np.float64)
    hit[~regions.reshape(n, -1).any(axis=1)] = np.nan
    return hit


def energy_in_region(maps, masks) -> np.ndarray:
    """Per image: share of the map's total in the region (NaN for an empty region or map)."""
    maps, regions = np.asarray(maps, np.float64), region_masks(masks)
    total = maps.reshape(len(maps), -1).sum(axis=1)
    inside = (maps * regions).reshape(len(maps), -1).sum(axis=1)
    share = np.divide(inside, total, out=np.full(len(maps), np.nan), where=total > 0)
    share[~regions.reshape(len(maps), -1).any(axis=1)] = np.nan
    return share


def region_share(masks) -> np.ndarray:
    """Per image: the region's share of the image -- the chance level of both region scores."""
    regions = region_masks(masks)
    share = regions.reshape(len(regions), -1).mean(axis=1).astype(np.float64)
    share[share == 0] = np.nan
    return share


def region_table(maps, masks, labels, classes):
    """Per class: pointing game, energy in region, and the chance level, averaged over the
    images that have a region (``regions`` of ``images``; a class without any keeps a NaN row,
    so the table says so): a pandas DataFrame with columns images, regions, pointing, energy,
    chance, energy / chance."""
    import pandas as pd

    labels = np.asarray(labels)
    frame = pd.DataFrame({"class": [classes[i] for i in labels], "pointing": pointing_game(maps, masks),
                          "energy": energy_in_region(maps, masks), "chance": region_share(masks)})
    table = frame.groupby("class", sort=False).agg(images=("pointing", "size"), regions=("chance", "count"),
                                                   pointing=("pointing", "mean"),
                                                   energy=("energy", "mean"), chance=("chance", "mean"))
    table["energy / chance"] = table["energy"] / table["chance"]
    return table.reindex([c for c in classes if c in set(table.index)])


def explanation_row(model, report, images, maps, masks, subset, *, steps: int = 12) -> dict:
    """One row of a before/after table for ``model`` scored on ``images`` (N, H, W, 3) with
    ``maps`` (N, H, W): parameters, accuracy, macro-F1 (from ``report``), energy in region and
    pointing game (means over the images with a region; NaN without ``masks``), and the
    deletion AUC on the images ``subset`` (indices), following the model's predicted classes."""
    classes = report.y_pred[subset]
    deletion = perturbation_curves(model, np.asarray(images)[subset], maps[subset], classes, kind="deletion",
                                   steps=steps)
    scored = masks is not None
    return {"parameters": int(model.count_params()), "accuracy": report.accuracy, "macro-F1": report.macro_f1,
            "energy in region": float(np.nanmean(energy_in_region(maps, masks))) if scored else np.nan,
            "pointing game": float(np.nanmean(pointing_game(maps, masks))) if scored else np.nan,
            "deletion AUC": float(deletion.auc.mean())}
