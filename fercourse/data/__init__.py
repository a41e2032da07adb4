"""Data for Q5: find the data root, read the folder tree, decode and cache images, tf.data.

    from fercourse.data import load_dataset
    data = load_dataset()          # real AffectNet if configured, else the built-in set
    print(data.describe()); data.counts()
"""
from ..classes import AFFECTNET_CLASSES, canonical_class
from .dataset import load_dataset
from .holdout import hold_out
from .splits import ExpressionDataset, ImageSplit, ScanReport
from .errors import DataError
from .root import DataRoot, resolve_data_root

__all__ = ["AFFECTNET_CLASSES", "DataError", "DataRoot", "ExpressionDataset", "ImageSplit", "ScanReport",
           "canonical_class", "hold_out", "load_dataset", "resolve_data_root"]
