"""The built-in expression dataset: procedurally drawn faces, AffectNet's layout (not AffectNet)."""
from .generate import GeneratedDataset, compose_sample, ensure_dataset, load_masks, write_dataset

__all__ = ["GeneratedDataset", "compose_sample", "ensure_dataset", "load_masks", "write_dataset"]
