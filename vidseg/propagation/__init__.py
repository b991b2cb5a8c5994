"""Propagation core: network factory and checkpoints, optical flow, losses, fine-tuning, inference,
and the flow-warp baseline. Arrays in, arrays out; device and paths are injected by the caller."""

from .baseline import UNREACHABLE, propagate_labels
from .checkpoint import CheckpointError, load_checkpoint, load_user_checkpoint, save_checkpoint
from .finetune import FinetuneConfig, downscale_labels, finetune
from .flow import (
    Flows,
    compute_flows,
    consistency_mask,
    load_flows,
    resize_flow,
    resize_flows,
    resize_nearest,
    save_flows,
    warp,
    warp_labels,
)
from .inference import VideoPrediction, predict_video, upsample_labels
from .losses import masked_cross_entropy, temporal_consistency
from .network import (
    DEFAULT_DECODER_CHANNELS,
    DEFAULT_ENCODER,
    NetworkSpec,
    build_network,
    capture_embeddings,
    embedding_dim,
    forward_with_embeddings,
    normalise,
)

__all__ = [
    "DEFAULT_DECODER_CHANNELS",
    "DEFAULT_ENCODER",
    "UNREACHABLE",
    "CheckpointError",
    "Flows",
    "FinetuneConfig",
    "NetworkSpec",
    "VideoPrediction",
    "build_network",
    "capture_embeddings",
    "compute_flows",
    "consistency_mask",
    "downscale_labels",
    "embedding_dim",
    "finetune",
    "forward_with_embeddings",
    "load_checkpoint",
    "load_flows",
    "load_user_checkpoint",
    "masked_cross_entropy",
    "normalise",
    "predict_video",
    "propagate_labels",
    "resize_flow",
    "resize_flows",
    "resize_nearest",
    "save_checkpoint",
    "save_flows",
    "temporal_consistency",
    "upsample_labels",
    "warp",
    "warp_labels",
]
