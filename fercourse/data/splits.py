"""The decoded data set's types: a split, the scan's report, the data set."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .errors import DataError
from .faces import FaceOptions
from .folders import Skipped
from .rows import take_rows
from .root import DataRoot

SPLIT_ORDER = ("train", "validation", "test")


@dataclasses.dataclass
class ImageSplit:
    """One split, decoded. ``images`` (N, S, S, 3) uint8; ``labels`` (N,) int32 class indices."""

    name: str
    source: str  # where it came from, e.g. "Train/" or "Train/ (held out 20 %)"
    files: list[str]  # relative to the data root
    labels: np.ndarray
    images: np.ndarray
    valence_arousal: np.ndarray | None = None  # (N, 2) float32, NaN where unknown
    faces: np.ndarray | None = None  # (N, 5) float32 face x, y, w, h, eye angle (original px); NaN: none

    def __len__(self) -> int:
        return len(self.files)

    def rows(self, positions, name: str | None = None, source: str | None = None) -> "ImageSplit":
        """The split of rows ``positions`` (M,) of this one, in that order."""
        positions = np.asarray(positions, dtype=np.int64)
        pick = lambda a: None if a is None else a[positions]  # noqa: E731
        return ImageSplit(name or self.name, source or self.source, [self.files[i] for i in positions],
                          self.labels[positions], take_rows(self.images, positions),
                          pick(self.valence_arousal), pick(self.faces))

    @classmethod
    def joined(cls, splits: list["ImageSplit"], name: str, source: str) -> "ImageSplit":
        """One split holding every image of ``splits`` in order (images read into memory)."""
        def join(attr):
            parts = [getattr(s, attr) for s in splits]
            return None if any(p is None for p in parts) else np.concatenate([np.asarray(p) for p in parts])

        return cls(name, source, [f for s in splits for f in s.files], join("labels"), join("images"),
                   join("valence_arousal"), join("faces"))

    def labelled_valence_arousal(self) -> tuple[np.ndarray, np.ndarray]:
        """(positions (K,) of the images with both labels, their (K, 2) float32 valence/arousal)."""
        if self.valence_arousal is None:
            raise DataError(f"the {self.name} split ({self.source}) has no valence/arousal table "
                            "(valence_arousal.csv with file,valence,arousal columns beside the class folders)")
        positions = np.flatnonzero(~np.isnan(self.valence_arousal).any(axis=1))
        return positions, self.valence_arousal[positions].astype(np.float32)


@dataclasses.dataclass
class ScanReport:
    """What the scan found: counts, image sizes and modes, skipped files, warnings."""

    root: str
    counts: "object"  # pandas DataFrame: classes x splits
    sizes: "object"  # pandas DataFrame: min/median/max width and height (rows) x splits
    modes: dict[str, int]
    skipped: list[Skipped]
    warnings: list[str]
    faces: "object" = None  # pandas DataFrame: faces found per class (rows) and split; None: as-is
    no_face: list[str] = dataclasses.field(default_factory=list)  # files whose whole frame is used

    def skipped_table(self):
        """The skipped files as a DataFrame (path, reason)."""
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(s) for s in self.skipped], columns=["path", "reason"])

    def __str__(self) -> str:
        lines = [f"data root: {self.root}", f"image modes: {self.modes}",
                 f"skipped files: {len(self.skipped)}"]
        lines += [f"  {s.path}: {s.reason}" for s in self.skipped[:20]]
        if len(self.skipped) > 20:
            lines.append(f"  ... and {len(self.skipped) - 20} more (see .skipped_table())")
        if self.faces is not None:
            found = ", ".join(f"{split} {int(self.faces.loc['total', split])}/{int(self.counts.loc['total', split])}"
                              for split in self.faces.columns)
            lines.append(f"faces found: {found}; no face in {len(self.no_face)} file(s), whole frame used")
            lines += [f"  {path}" for path in self.no_face[:20]]
            if len(self.no_face) > 20:
                lines.append(f"  ... and {len(self.no_face) - 20} more (see .no_face)")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclasses.dataclass
class ExpressionDataset:
    """A decoded expression dataset, ready for ``fercourse.data.pipeline``."""

    root: DataRoot
    classes: tuple[str, ...]
    splits: dict[str, ImageSplit]
    report: ScanReport
    image_size: int
    keep_aspect: bool
    fingerprint: str  # what was decoded (file list, pixels, labels) and how it was split: keys models, features
    decoded_fingerprint: str = ""  # file names, sizes, times and decoding options: keys the decoded-image cache
    face_options: FaceOptions = dataclasses.field(default_factory=FaceOptions)  # detection applied

    @property
    def name(self) -> str:
        """Where the data came from; and, when faces were detected, how they were cropped."""
        if not self.face_options.active:
            return self.root.description
        how = "cropped to the largest face" + (" with the eyes levelled" if self.face_options.mode == "align" else "")
        return (f"{self.root.description}; {how} (OpenCV Haar cascade, margin {self.face_options.margin:.0%} "
                f"per side; no face: whole frame)")

    @property
    def label(self) -> str:
        """A few words for figure titles: "built-in faces", or the data folder's name."""
        return "built-in faces" if self.root.generated else Path(self.root.path).name

    def __getitem__(self, split: str) -> ImageSplit:
        if split not in self.splits:
            raise KeyError(f"no {split!r} split; this dataset has {list(self.splits)}")
        return self.splits[split]

    def counts(self):
        """Images per class (rows) and split (columns), with totals."""
        return self.report.counts

    def describe(self) -> str:
        """Two lines for a notebook: what this data is and whether it is AffectNet."""
        import textwrap

        sizes = ", ".join(f"{name} {len(split)}" for name, split in self.splits.items())
        return (textwrap.fill(self.root.description, 88) + f"\n{len(self.classes)} classes; {sizes} images "
                f"at {self.image_size}x{self.image_size}")
