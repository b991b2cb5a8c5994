"""Active sample selection: sample units, uncertainty, diversity and strategies (numpy + scikit-learn)."""

from .diversity import l2_normalise, nearest_to_centroids
from .errors import SelectionError
from .features import image_features, opponent_colour
from .strategies import (
    STRATEGIES,
    cold_start_sampling,
    hvsa_sampling,
    random_sampling,
    select_samples,
    uncertainty_sampling,
    uniform_sampling,
)
from .uncertainty import (
    UNCERTAINTY_METHODS,
    entropy,
    least_confidence,
    margin,
    pixel_uncertainty,
    sample_scores,
)
from .units import (
    UNIT_KINDS,
    FrameUnits,
    PixelUnits,
    RectangleUnits,
    SampleUnits,
    SuperpixelUnits,
    make_units,
    pool_per_sample,
)

__all__ = [
    "STRATEGIES",
    "UNCERTAINTY_METHODS",
    "UNIT_KINDS",
    "FrameUnits",
    "PixelUnits",
    "RectangleUnits",
    "SampleUnits",
    "SelectionError",
    "SuperpixelUnits",
    "cold_start_sampling",
    "entropy",
    "hvsa_sampling",
    "image_features",
    "l2_normalise",
    "least_confidence",
    "make_units",
    "margin",
    "nearest_to_centroids",
    "opponent_colour",
    "pixel_uncertainty",
    "pool_per_sample",
    "random_sampling",
    "sample_scores",
    "select_samples",
    "uncertainty_sampling",
    "uniform_sampling",
]
