"""The one exception a user sees for bad data: it names the file or folder and what is wrong."""
from __future__ import annotations

from ..errors import DataError

__all__ = ["DataError"]
