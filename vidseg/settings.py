"""One typed settings object, built from the environment in one place (`Settings.from_env`).

Every variable is listed in the README's settings table; keep the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from vidseg.strategies import DEFAULT_STRATEGY, STRATEGIES


class SettingsError(ValueError):
    """A variable has a value the backend cannot use; the message names it and says what to set."""


@dataclass(frozen=True)
class Settings:
    model_dir: Path = Path("model_dir")
    redis_url: str | None = None
    label_studio_url: str | None = None
    label_studio_api_key: str | None = field(default=None, repr=False)
    basic_auth_user: str | None = None
    basic_auth_pass: str | None = field(default=None, repr=False)
    video_field: str = "video"
    frame_field: str = "frame"
    image_field: str = "image"
    granularity: str = "frame"
    strategy: str = DEFAULT_STRATEGY
    budget: int = 5
    uncertainty: str = "entropy"
    uncertain_fraction: float = 0.5
    rectangle_size: int = 16
    superpixels_per_frame: int = 600
    pixel_stride: int = 8
    pixel_learner: str = "off"
    arch: str = "Unet"
    encoder: str = "tu-mobilenetv3_large_100"
    encoder_weights: str | None = None
    base_checkpoint: Path | None = None
    project_memory: bool = True
    height: int = 192
    width: int = 256
    steps: int = 60
    learning_rate: float = 1e-3
    batch_size: int = 4
    temporal_weight: float = 1.0
    carry_half_life: float = 8.0
    network_weight: float = 0.1
    upsampling: str = "bilinear"
    pseudo_labels: bool = True
    flow_max_side: int = 640
    flow_preset: str = "fine"
    device: str = "cpu"
    model_version: str = "vidseg"
    delivery_concurrency: int = 4
    job_timeout: int = 3600
    queue_name: str = "vidseg"
    allowed_hosts: tuple[str, ...] = ()
    max_request_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = 40_000_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict = {}
        for name, (variable, aliases, parse) in _VARIABLES.items():
            for key in (variable, *aliases):
                raw = env.get(key)
                if raw is not None and raw.strip() != "":
                    try:
                        values[name] = parse(raw.strip())
                    except ValueError as error:
                        raise SettingsError(f"{key}={raw!r}: {error}") from None
                    break
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        from propagation.densify import PIXEL_LEARNERS
        from propagation.flow_presets import PRESETS
        from propagation.upsampling import UPSAMPLINGS
        from selection import UNCERTAINTY_METHODS
        from vidseg.granularities import GRANULARITIES

        if self.granularity not in GRANULARITIES:
            raise SettingsError(f"GRANULARITY={self.granularity!r}: choose one of {', '.join(GRANULARITIES)}")
        if self.strategy not in STRATEGIES:
            raise SettingsError(f"STRATEGY={self.strategy!r}: choose one of {', '.join(STRATEGIES)}")
        for name in ("budget", "steps", "batch_size", "rectangle_size", "pixel_stride", "job_timeout", "flow_max_side",
                     "max_image_pixels", "delivery_concurrency"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name.upper()} must be a positive integer")
        if self.pixel_learner not in PIXEL_LEARNERS:
            raise SettingsError(f"PIXEL_LEARNER={self.pixel_learner!r}: choose one of {', '.join(PIXEL_LEARNERS)} "
                                "(sparse: densify frames labelled by a few key points first; off: train on the points)")
        if self.uncertainty not in UNCERTAINTY_METHODS:
            raise SettingsError(f"UNCERTAINTY={self.uncertainty!r}: choose one of {', '.join(UNCERTAINTY_METHODS)}")
        if self.carry_half_life <= 0:
            raise SettingsError(f"CARRY_HALF_LIFE={self.carry_half_life}: choose a positive number of frames")
        if self.network_weight < 0:
            raise SettingsError(f"NETWORK_WEIGHT={self.network_weight}: choose a weight >= 0 (a human label weighs 1)")
        if self.flow_preset not in PRESETS:
            raise SettingsError(f"FLOW_PRESET={self.flow_preset!r}: choose one of {', '.join(PRESETS)} "
                                "(fine: full-resolution flow, keeps thin structures; medium: about 2.6x faster)")
        if self.upsampling not in UPSAMPLINGS:
            raise SettingsError(f"UPSAMPLING={self.upsampling!r}: choose one of {', '.join(UPSAMPLINGS)}")
        if not 0.0 < self.uncertain_fraction <= 1.0:
            raise SettingsError(f"UNCERTAIN_FRACTION={self.uncertain_fraction}: choose a fraction in (0, 1]")
        if self.height % 32 or self.width % 32:
            raise SettingsError(f"WORK_HEIGHT and WORK_WIDTH must be multiples of 32, got {self.height}x{self.width}")
        if (self.basic_auth_user is None) != (self.basic_auth_pass is None):
            raise SettingsError("set both BASIC_AUTH_USER and BASIC_AUTH_PASS, or neither")


    def round_setup(self, classes: tuple[str, ...], round_number: int):
        """The cores' configs for round ``round_number`` (1, 2, ...) of a video with these classes:
        ``(NetworkSpec, RoundConfig, UnitParams)``. The one place settings become core options."""
        from propagation import FinetuneConfig, FusionConfig, NetworkSpec
        from propagation.densify import DensifyConfig
        from vidseg.engine import RoundConfig
        from vidseg.granularities import UnitParams

        spec = NetworkSpec(classes=tuple(classes), arch=self.arch, encoder=self.encoder, height=self.height,
                           width=self.width, encoder_weights=self.encoder_weights)
        seed = round_number - 1
        finetune = FinetuneConfig(steps=self.steps, lr=self.learning_rate, batch_size=self.batch_size,
                                  temporal_weight=self.temporal_weight, device=self.device, seed=seed)
        fusion = FusionConfig(half_life=self.carry_half_life, network_weight=self.network_weight,
                              upsampling=self.upsampling)
        round_config = RoundConfig(strategy=self.strategy, budget=self.budget, uncertainty=self.uncertainty,
                                   uncertain_fraction=self.uncertain_fraction, fusion=fusion,
                                   pseudo_labels=self.pseudo_labels, finetune=finetune, seed=seed,
                                   densify=DensifyConfig(learner=self.pixel_learner))
        units = UnitParams(self.rectangle_size, self.superpixels_per_frame, self.pixel_stride)
        return spec, round_config, units


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("expected an integer") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("expected a number") from None


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _hosts(text: str) -> tuple[str, ...]:
    return tuple(host.strip().lower() for host in text.split(",") if host.strip())


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return text.rstrip("/")


# setting name -> (environment variable, aliases, parser)
_VARIABLES = {
    "model_dir": ("MODEL_DIR", (), Path),
    "redis_url": ("REDIS_URL", (), str),
    "label_studio_url": ("LABEL_STUDIO_URL", ("LABEL_STUDIO_HOST",), _url),
    "label_studio_api_key": ("LABEL_STUDIO_API_KEY", ("LABEL_STUDIO_ACCESS_TOKEN",), str),
    "basic_auth_user": ("BASIC_AUTH_USER", (), str),
    "basic_auth_pass": ("BASIC_AUTH_PASS", (), str),
    "video_field": ("VIDEO_FIELD", (), str),
    "frame_field": ("FRAME_FIELD", (), str),
    "image_field": ("IMAGE_FIELD", (), str),
    "granularity": ("GRANULARITY", (), str.lower),
    "strategy": ("STRATEGY", (), str.lower),
    "budget": ("BUDGET", (), _int),
    "uncertainty": ("UNCERTAINTY", (), str.lower),
    "uncertain_fraction": ("UNCERTAIN_FRACTION", (), _float),
    "rectangle_size": ("RECTANGLE_SIZE", (), _int),
    "superpixels_per_frame": ("SUPERPIXELS_PER_FRAME", (), _int),
    "pixel_stride": ("PIXEL_STRIDE", (), _int),
    "pixel_learner": ("PIXEL_LEARNER", (), str.lower),
    "arch": ("MODEL_ARCH", (), str),
    "encoder": ("MODEL_ENCODER", (), str),
    "encoder_weights": ("ENCODER_WEIGHTS", (), str),
    "base_checkpoint": ("BASE_CHECKPOINT", (), Path),
    "project_memory": ("PROJECT_MEMORY", (), _bool),
    "height": ("WORK_HEIGHT", (), _int),
    "width": ("WORK_WIDTH", (), _int),
    "steps": ("TRAIN_STEPS", (), _int),
    "learning_rate": ("LEARNING_RATE", (), _float),
    "batch_size": ("BATCH_SIZE", (), _int),
    "temporal_weight": ("TEMPORAL_WEIGHT", (), _float),
    "carry_half_life": ("CARRY_HALF_LIFE", (), _float),
    "network_weight": ("NETWORK_WEIGHT", (), _float),
    "upsampling": ("UPSAMPLING", (), str.lower),
    "pseudo_labels": ("PSEUDO_LABELS", (), _bool),
    "flow_max_side": ("FLOW_MAX_SIDE", (), _int),
    "flow_preset": ("FLOW_PRESET", (), str.lower),
    "device": ("DEVICE", (), str),
    "model_version": ("MODEL_VERSION", (), str),
    "delivery_concurrency": ("DELIVERY_CONCURRENCY", (), _int),
    "job_timeout": ("JOB_TIMEOUT", (), _int),
    "queue_name": ("QUEUE_NAME", (), str),
    "allowed_hosts": ("ALLOWED_HOSTS", (), _hosts),
    "max_request_bytes": ("MAX_REQUEST_BYTES", (), _int),
    "max_image_pixels": ("MAX_IMAGE_PIXELS", (), _int),
}
assert set(_VARIABLES) == {f.name for f in fields(Settings)}, "every setting needs its variable"
