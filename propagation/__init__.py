"""Propagation core: network factory and checkpoints, optical flow, losses, fine-tuning, inference,
label carrying along the flow, label fusion and the label-map conventions. Imports torch, segmentation-models-pytorch
and OpenCV only; arrays in, arrays out; device and paths are injected by the caller.

Names load on first use, so importing one light piece (e.g. ``UNKNOWN``) does not import the rest."""

import importlib

_EXPORTS = {
    "build_network": "network",
    "capture_embeddings": "network",
    "carried_share": "fusion",
    "carry_votes": "fusion",
    "carry_votes_again": "fusion",
    "checkpoint_info": "checkpoint",
    "CheckpointError": "checkpoint",
    "check_preset": "flow_presets",
    "compute_flows": "flow",
    "DEFAULT_PRESET": "flow_presets",
    "consistency_mask": "flow",
    "DEFAULT_DECODER_CHANNELS": "network",
    "DEFAULT_ENCODER": "network",
    "downscale_labels": "training",
    "embedding_dim": "network",
    "finetune": "training",
    "FinetuneConfig": "training",
    "Flows": "flow",
    "PRESETS": "flow_presets",
    "forward_with_embeddings": "network",
    "fuse_labels": "fusion",
    "fused_probabilities": "fusion",
    "FusionConfig": "fusion",
    "load_checkpoint": "checkpoint",
    "Delivery": "fusion",
    "DiskArray": "ondisk",
    "in_memory": "ondisk",
    "on_disk": "ondisk",
    "open_flows": "flow",
    "SparseLabels": "sparse_labels",
    "shrink_label_map": "sparse_labels",
    "load_user_checkpoint": "checkpoint",
    "masked_cross_entropy": "losses",
    "NetworkSpec": "network",
    "normalise": "network",
    "overlay_known": "labels",
    "predict_video": "inference",
    "propagate_labels": "baseline",
    "reliable_label_map": "fusion",
    "reliable_labels": "fusion",
    "summarise_votes": "fusion",
    "working_frames": "inference",
    "resize_flow": "flow",
    "resize_flows": "flow",
    "resize_nearest": "flow",
    "starting_network": "checkpoint",
    "temporal_consistency": "losses",
    "UNKNOWN": "labels",
    "UNREACHABLE": "baseline",
    "upsample_labels": "inference",
    "VideoPrediction": "inference",
    "warp": "flow",
    "warp_labels": "flow",
    "write_checkpoint": "checkpoint",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return __all__
