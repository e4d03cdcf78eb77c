"""The error hierarchy: every error a user can cause is a `PaiBenchError`.

The CLI prints such an error as one line and exits with code 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations


class PaiBenchError(Exception):
    """An error caused by input (a suite, an option, a name, missing data), not by a bug."""


class ConfigError(PaiBenchError):
    """A suite file, option or command-line value is invalid."""


class UnknownNameError(PaiBenchError, KeyError):
    """A registry lookup missed."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PluginError(PaiBenchError):
    """A plug-in is broken or registered twice."""


class DataError(PaiBenchError):
    """A data set is missing or malformed."""
