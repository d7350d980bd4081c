"""Errors a user can cause and fix: the message says what is wrong, where, and what to do."""


class UserError(Exception):
    """A mistake in input data, parameters or set-up; shown as one line, never a traceback."""


class DataError(UserError):
    """The data folder is not usable (bad table, missing or broken images)."""


class ParameterError(UserError, ValueError):
    """A parameter has a value the study cannot use."""
