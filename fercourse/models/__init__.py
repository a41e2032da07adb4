"""Model builders only (no training): the Q5 lightweight VGG and, later, VGG16 transfer."""
from .light_vgg import light_vgg

__all__ = ["light_vgg"]
