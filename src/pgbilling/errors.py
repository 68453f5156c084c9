"""Errors a person can act on. The CLI prints them without a traceback."""


class UserError(Exception):
    """A failure with a message that says what happened and what to do."""
