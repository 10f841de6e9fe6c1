"""Exceptions the engine raises; front ends turn them into their own error types."""


class OaipError(Exception):
    """Base class: a run could not be completed; the message names the problem for the analyst."""


class InputError(OaipError):
    """The inputs (rasters, bands, vectors, parameters) cannot be used as given."""


class Cancelled(OaipError):
    """The caller asked the run to stop; nothing was written."""
