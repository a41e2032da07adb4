"""Class activation maps for Keras 3 models: methods, faithfulness metrics, overlays, displays.

    from fercourse.cam import GradCAM
    maps = GradCAM(model)(images)            # (B, H, W) in [0, 1], predicted classes

Works on Sequential, functional and nested functional models (the VGG16 transfer model);
the target layer is the last convolutional output unless named.
"""
from .displays import CamGridDisplay, PerturbationDisplay
from .examples import Examples, pick_examples
from .faithfulness import (PerturbationCurves, energy_in_region, explanation_row, perturbation_curves,
                           pointing_game, random_maps, region_share, region_table)
from .forward import TappedForward, find_target_layer
from .methods import CAM, METHODS, BaseCAM, GradCAM, GradCAMPlusPlus, ScoreCAM, normalise_maps, upsample
from .overlay import overlay

__all__ = ["BaseCAM", "CAM", "CamGridDisplay", "Examples", "GradCAM", "GradCAMPlusPlus", "METHODS",
           "PerturbationCurves", "PerturbationDisplay", "ScoreCAM", "TappedForward", "energy_in_region", "explanation_row",
           "find_target_layer", "normalise_maps", "overlay", "perturbation_curves", "pick_examples",
           "pointing_game", "random_maps", "region_share", "region_table", "upsample"]
