"""Optional valence/arousal labels: a CSV next to the class folders of a split.

Columns (case-insensitive): one naming the image (``file``, ``path``, ``image``,
``filename`` or ``name``: a path relative to the split folder, or a bare file name),
``valence`` and ``arousal`` (numbers, AffectNet's range is [-1, 1]).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError

FILE_COLUMNS = ("file", "path", "image", "filename", "name", "subdirectory_filepath")


def read_valence_arousal(table: Path) -> dict[str, tuple[float, float]]:
    """Map image key -> (valence, arousal) from one CSV; keys are as written in the file."""
    import pandas as pd

    try:
        frame = pd.read_csv(table)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{table}: not a readable CSV table ({err})") from err
    columns = {c.strip().lower(): c for c in frame.columns}
    file_col = next((columns[c] for c in FILE_COLUMNS if c in columns), None)
    missing = [c for c in ("valence", "arousal") if c not in columns]
    if file_col is None or missing:
        need = ([] if file_col else ["a file column (" + "/".join(FILE_COLUMNS[:5]) + ")"]) + missing
        raise DataError(f"{table}: missing column(s) {', '.join(need)}; found {list(frame.columns)}")
    values = frame[[columns["valence"], columns["arousal"]]].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{table}: row {first + 2} has a valence/arousal that is not a number "
                        f"({frame.iloc[first].to_dict()})")
    return {str(k): (float(v), float(a)) for k, v, a in zip(frame[file_col], values.iloc[:, 0], values.iloc[:, 1])}


def match_valence_arousal(tables: list[Path], split_folder: Path, files: list[Path]) -> np.ndarray | None:
    """(N, 2) float32 valence/arousal for ``files`` (NaN where a file has no row), or None.

    A row matches a file by its path relative to the split folder, or else by bare name.
    """
    if not tables:
        return None
    merged: dict[str, tuple[float, float]] = {}
    for table in tables:
        merged.update(read_valence_arousal(table))
    bare = {k: v for k, v in merged.items() if "/" not in k}  # rows that name a file without its folder
    names = [p.name for p in files]
    out = np.full((len(files), 2), np.nan, dtype=np.float32)
    for i, path in enumerate(files):
        rel = path.relative_to(split_folder).as_posix()
        hit = merged.get(rel)
        if hit is None and path.name in bare:
            if names.count(path.name) > 1:
                raise DataError(f"{tables[0].parent}: the label table names {path.name!r} without its class "
                                f"folder, but several classes hold a file of that name; write class/{path.name}")
            hit = bare[path.name]
        if hit is not None:
            out[i] = hit
    return out
