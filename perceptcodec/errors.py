"""The one exception type for errors a user can cause (bad input, bad options)."""


class PerceptcodecError(Exception):
    """A user-facing error: its message is printed as one line by the CLI."""
