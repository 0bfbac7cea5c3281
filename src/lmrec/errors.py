"""Errors meant for users.

Every error a user can cause (bad file, wrong column, unknown id, bad flag) is an
:class:`LmrecError`. The CLI prints its message on one line and exits with code 2;
the service maps it to a 4xx JSON answer. Messages say what was received, what was
expected and how to fix it.
"""

from __future__ import annotations


class LmrecError(Exception):
    """Base class for errors caused by input the user can fix."""


class DataError(LmrecError):
    """A data file or frame is missing, unreadable or has the wrong shape."""


class UnknownIdError(LmrecError, KeyError):
    """A user or item id is not known to the model or data set."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NotFittedError(LmrecError):
    """A model was used before ``fit`` (or ``load``)."""


class ConfigError(LmrecError, ValueError):
    """A hyper-parameter or option has a value outside what is allowed."""


class ModelFileError(LmrecError):
    """A saved model directory is missing, corrupted or from an incompatible version."""


class CapabilityError(LmrecError, NotImplementedError):
    """A model was asked for something it does not declare (see ``Recommender.supports``)."""
