"""The exceptions a user is meant to read: each names the file, folder or stored run, and
what to do. The command line prints them as one paragraph instead of a stack trace."""
from __future__ import annotations


class FercourseError(Exception):
    """A problem with the user's input or cache that they can fix; the message says how."""


class DataError(FercourseError, ValueError):
    """A data folder, file or label table that cannot be used as it is."""


class WeightsError(FercourseError, ValueError):
    """A pretrained-weights source that is missing, unreadable or of the wrong network."""


class SettingError(FercourseError, ValueError):
    """An environment variable that fercourse reads holds a value it cannot use."""


class NotInStoreError(FercourseError, LookupError):
    """``evaluate`` asked for a model that was never trained with these settings."""

    def __init__(self, message: str, entry=None):
        super().__init__(message)
        self.entry = entry
