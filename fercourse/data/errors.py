"""The one exception a user sees for bad data: it names the file or folder and what is wrong."""
from __future__ import annotations


class DataError(ValueError):
    """A data folder, file or label table that cannot be used as it is."""
