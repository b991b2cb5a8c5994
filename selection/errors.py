"""Domain exception of the selection layer."""


class SelectionError(ValueError):
    """Invalid input to sample units or a selection strategy; the message says what to fix."""
