"""Exceptions that carry a message meant for the person running the tracker."""


class CheckpointError(RuntimeError):
    """A model file that cannot be used: missing, truncated, corrupt or mismatched.

    The message names the file and what is wrong with it.
    """


class TooManyTargets(ValueError):
    """A new target was refused: ``max_targets`` are tracked already."""
