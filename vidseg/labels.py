"""Label-map conventions shared by every layer."""

UNKNOWN = -1
"""Label value of a pixel with no label: not revealed, void, or outside a selected region."""
