"""Active sample selection: sample units, uncertainty, diversity and strategies (numpy + scikit-learn).

Names load on first use, so importing the package is cheap for the processes that need little of it."""

import importlib

_EXPORTS = {
    "carried_gain": "coverage",
    "cold_start_sampling": "strategies",
    "entropy": "uncertainty",
    "FrameUnits": "units",
    "hvsa_sampling": "strategies",
    "image_features": "features",
    "l2_normalise": "diversity",
    "least_confidence": "uncertainty",
    "margin": "uncertainty",
    "nearest_to_centroids": "diversity",
    "opponent_colour": "features",
    "pixel_uncertainty": "uncertainty",
    "PixelUnits": "units",
    "pool_per_sample": "units",
    "random_sampling": "strategies",
    "RectangleUnits": "units",
    "sample_scores": "uncertainty",
    "SampleUnits": "units",
    "select_samples": "strategies",
    "spaced_if_better": "coverage",
    "SelectionError": "errors",
    "STRATEGIES": "strategies",
    "STRATEGY_INPUTS": "strategies",
    "SuperpixelUnits": "units",
    "UNCERTAINTY_METHODS": "uncertainty",
    "uncertainty_left": "coverage",
    "uncertainty_sampling": "strategies",
    "uniform_sampling": "strategies",
    "with_time": "diversity",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return __all__
