"""Errors that reach users.

Anything a user can fix (bad input, missing weights, a limit exceeded) raises
``SatgeoError`` with a one-line message that says what to change. The CLI and the
server turn it into a one-line message / a 4xx response; anything else is a bug.
"""


class SatgeoError(Exception):
    """A problem the user can fix; ``str(err)`` is a one-line, actionable message."""


class InputError(SatgeoError):
    """Bad input: unreadable file, unknown CRS, empty area, NaN coordinates, ..."""


class LimitError(SatgeoError):
    """A request above a documented size limit."""


class ModelError(SatgeoError):
    """A model that cannot be found, loaded or used for this request."""


class Cancelled(SatgeoError):
    """Work stopped because the caller cancelled it."""
