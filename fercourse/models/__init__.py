"""Model builders only (no training): the Q5 lightweight VGG and VGG16 transfer.

``vgg16_transfer`` lives in ``fercourse.models.vgg16_transfer`` (importing it loads
TensorFlow and registers its preprocessing layer).
"""
from .light_vgg import copy_convolutions, light_vgg, light_vgg_gap

__all__ = ["copy_convolutions", "light_vgg", "light_vgg_gap"]
