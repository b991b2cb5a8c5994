"""Network factory: a segmentation-models-pytorch model described by a small, serialisable spec.

The embeddings used for sample selection are the decoder features that feed the segmentation
head, captured with a forward hook on ``model.segmentation_head`` (no reliance on smp internals).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields

import numpy as np
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Cheapest candidate that learns best per second of CPU training (benchmarks/bench_network.py):
# 1.6x cheaper per step than resnet18 with the same decoder, +6 label mIoU at equal wall time.
DEFAULT_ENCODER = "tu-mobilenetv3_large_100"
# Halved smp Unet decoder (smp default: 256, 128, 64, 32, 16): same mIoU per second, 1.4x cheaper.
DEFAULT_DECODER_CHANNELS = (128, 64, 32, 16, 16)


@dataclass(frozen=True)
class NetworkSpec:
    """Everything needed to rebuild a network and feed it frames.

    classes: class names, index = label value. arch, encoder: smp names (``"tu-..."`` = any timm
    model); the default timm MobileNetV3-large Unet is the cheapest per CPU training step among
    those measured. height, width: working resolution, divisible by 32 (the encoder downsamples
    five times). decoder_channels: passed to smp as is; ``None`` keeps the
    architecture's own default (needed for archs whose decoder takes an int, e.g. FPN).
    encoder_weights: an smp weights name such as ``"imagenet"`` makes smp *download* the encoder
    weights (timm/Hugging Face hub for ``tu-`` encoders) when the network is built; the default
    ``None`` starts from random weights, which needs no network access.
    """

    classes: tuple[str, ...]
    arch: str = "Unet"
    encoder: str = DEFAULT_ENCODER
    height: int = 192
    width: int = 256
    decoder_channels: tuple[int, ...] | None = DEFAULT_DECODER_CHANNELS
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    encoder_weights: str | None = None

    def __post_init__(self) -> None:
        # Lists arrive from JSON and checkpoints: store tuples so the spec stays hashable.
        for name in ("classes", "mean", "std", "decoder_channels"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if not self.classes:
            raise ValueError("NetworkSpec.classes is empty: give at least one class name")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"NetworkSpec.classes has duplicates: {self.classes}")
        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value <= 0 or value % 32:
                raise ValueError(
                    f"NetworkSpec.{name}={value!r} must be a positive multiple of 32 "
                    "(the encoder halves the resolution five times)"
                )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("NetworkSpec.mean and std need three values (RGB), std > 0")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def size(self) -> tuple[int, int]:
        """Working resolution ``(height, width)``."""
        return (self.height, self.width)

    def to_dict(self) -> dict:
        """Plain dict of lists, strings and numbers (JSON- and ``weights_only``-safe)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> NetworkSpec:
        """Inverse of :meth:`to_dict`; unknown keys are ignored (forward compatibility)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def build_network(spec: NetworkSpec) -> torch.nn.Module:
    """Build ``spec`` with ``smp.create_model``; outputs logits ``(N, C, h, w)``.

    Random weights unless ``spec.encoder_weights`` names smp weights (which downloads them). The
    weights are laid out channels-last: oneDNN's convolutions run a training step 23% faster on CPU
    that way (``benchmarks/bench_network.py --formats``), and loading a checkpoint keeps the layout.
    """
    kwargs = {}
    if spec.decoder_channels is not None:
        kwargs["decoder_channels"] = spec.decoder_channels
    model = smp.create_model(
        spec.arch,
        encoder_name=spec.encoder,
        encoder_weights=spec.encoder_weights,
        in_channels=3,
        classes=spec.num_classes,
        **kwargs,
    )
    return model.to(memory_format=torch.channels_last)


@contextlib.contextmanager
def capture_embeddings(model: torch.nn.Module) -> Iterator[dict]:
    """While active, ``store["embeddings"]`` holds the last input of ``model.segmentation_head``.

    That input is the decoder output ``(N, D, h, w)``; the hook is removed on exit so no tensor
    (and no autograd graph) outlives the ``with`` block by accident.
    """
    store: dict = {}

    def hook(module, inputs, output):
        store["embeddings"] = inputs[0]

    handle = model.segmentation_head.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def forward_with_embeddings(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(logits (N, C, h, w), embeddings (N, D, h, w))`` for normalised input ``x``."""
    with capture_embeddings(model) as store:
        logits = model(x)
    return logits, store["embeddings"]


def embedding_dim(spec: NetworkSpec, model: torch.nn.Module | None = None) -> int:
    """Channels D of the embeddings (runs one tiny forward pass when it cannot be read off the spec)."""
    if spec.decoder_channels is not None and spec.arch.lower() in ("unet", "unetplusplus"):
        return int(spec.decoder_channels[-1])
    model = model if model is not None else build_network(spec)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        _, emb = forward_with_embeddings(model, torch.zeros(1, 3, 64, 64, device=device))
    model.train(was_training)
    return int(emb.shape[1])


def normalise(
    frames: np.ndarray | torch.Tensor, spec: NetworkSpec, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """uint8 RGB frames ``(N, H, W, 3)`` -> normalised float ``(N, 3, h, w)`` at ``spec.size`` on ``device``.

    Resizing is bilinear, antialiased when shrinking (plain bilinear aliases textures at 2x+).
    """
    x = torch.as_tensor(frames)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames must be (N, H, W, 3) RGB, got shape {tuple(x.shape)}")
    # Move as uint8 (4x less to transfer), convert on the device.
    x = x.to(device).permute(0, 3, 1, 2).float().div_(255.0)
    if tuple(x.shape[-2:]) != spec.size:
        shrink = x.shape[-2] > spec.height or x.shape[-1] > spec.width
        x = F.interpolate(x, size=spec.size, mode="bilinear", align_corners=False, antialias=shrink)
    mean = torch.tensor(spec.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


