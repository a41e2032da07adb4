"""Read the layout of a data folder: which split folders, which class folders, which files.

Only names are looked at here; decoding is ``fercourse.data.decode``'s job. Nothing
is ever written into the data folder.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..classes import AFFECTNET_CLASSES, affectnet_order, canonical_class
from .decode import IMAGE_EXTENSIONS
from .errors import DataError

SPLIT_ALIASES = {
    "train": ("train", "training"),
    "validation": ("validation", "val", "valid", "validate"),
    "test": ("test", "testing"),
}
LABEL_TABLE_SUFFIX = ".csv"


def _hidden(path: Path) -> bool:
    return path.name.startswith((".", "_", "__"))


@dataclasses.dataclass
class Skipped:
    """A file left out, and why (path relative to the data root)."""

    path: str
    reason: str


@dataclasses.dataclass
class SplitLayout:
    """The class folders of one split and the candidate image files in each."""

    name: str  # "train" | "validation" | "test"
    folder: Path
    class_folders: dict[str, Path]  # canonical class -> folder
    files: dict[str, list[Path]]  # canonical class -> image files (sorted)
    label_tables: list[Path]
    skipped: list[Skipped]
    empty_classes: list[str]


def find_splits(root: Path) -> dict[str, Path]:
    """Split name -> folder, matched case-insensitively (``Train``, ``val``, ``VALID``...)."""
    if not root.is_dir():
        raise DataError(f"data root {root} does not exist or is not a folder")
    found: dict[str, Path] = {}
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p)):
        for split, aliases in SPLIT_ALIASES.items():
            if child.name.lower() in aliases:
                if split in found:
                    raise DataError(f"{root}: both {found[split].name}/ and {child.name}/ look like the "
                                    f"{split} split; keep one")
                found[split] = child
    return found


def read_split(root: Path, split: str, folder: Path) -> SplitLayout:
    """List the class folders and candidate image files of one split folder."""
    class_folders: dict[str, Path] = {}
    files: dict[str, list[Path]] = {}
    skipped: list[Skipped] = []
    tables: list[Path] = []
    for child in sorted(folder.iterdir()):
        rel = child.relative_to(root).as_posix()
        if _hidden(child):
            continue
        if child.is_file():
            if child.suffix.lower() == LABEL_TABLE_SUFFIX:
                tables.append(child)
            else:
                skipped.append(Skipped(rel, "stray file next to the class folders (not inside one)"))
            continue
        name = canonical_class(child.name)
        if name is None:
            raise DataError(
                f"{rel}/ is not an expression class folder: expected AffectNet's names "
                f"({', '.join(AFFECTNET_CLASSES)}, any case, common synonyms) or numbers 0-7"
            )
        if name in class_folders:
            raise DataError(f"{rel}/ and {class_folders[name].relative_to(root).as_posix()}/ are both "
                            f"the class {name!r}; merge them")
        class_folders[name] = child
        images = []
        for path in sorted(child.rglob("*")):
            if not path.is_file() or any(_hidden(p) for p in path.relative_to(child).parents if p != Path(".")):
                continue
            if _hidden(path):
                continue
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                images.append(path)
            else:
                skipped.append(Skipped(path.relative_to(root).as_posix(),
                                       f"not an image file extension ({path.suffix or 'none'})"))
        files[name] = images
    if not class_folders:
        raise DataError(f"{folder.relative_to(root).as_posix()}/ has no class folders")
    empty = [name for name in affectnet_order(files) if not files[name]]
    return SplitLayout(split, folder, class_folders, files, tables, skipped, empty)


def read_layout(root: Path, class_policy: str = "strict") -> tuple[dict[str, SplitLayout], list[str]]:
    """All splits under ``root`` and the class list shared by them (AffectNet order).

    ``class_policy="strict"`` raises when the splits hold different class sets;
    ``"intersection"`` keeps only the classes every split has (the others are skipped).
    """
    if class_policy not in ("strict", "intersection"):
        raise ValueError(f"class_policy must be 'strict' or 'intersection', got {class_policy!r}")
    splits = {name: read_split(root, name, folder) for name, folder in find_splits(root).items()}
    if "train" not in splits:
        names = ", ".join(p.name + "/" for p in sorted(root.iterdir()) if p.is_dir()) or "nothing"
        raise DataError(f"{root}: no Train split (looked for Train/, train/, training/ in any case); found {names}")
    sets = {name: set(layout.class_folders) for name, layout in splits.items()}
    common = set.intersection(*sets.values())
    if any(s != common for s in sets.values()):
        detail = "; ".join(f"{name}: {', '.join(affectnet_order(s))}" for name, s in sets.items())
        if class_policy == "strict":
            raise DataError(f"{root}: the splits hold different classes ({detail}). "
                            f"Pass class_policy='intersection' (command line: --class-policy intersection) "
                            f"to use only the classes they share.")
        for layout in splits.values():
            for name in sorted(set(layout.class_folders) - common):
                for path in layout.files.pop(name):
                    layout.skipped.append(Skipped(path.relative_to(root).as_posix(),
                                                  f"class {name!r} is not in every split"))
                del layout.class_folders[name]
    return splits, affectnet_order(common)
