
import numpy as np
import pytest
import torch

from propagation import (
    FinetuneConfig,
    NetworkSpec,
    build_network,
    compute_flows,
    downscale_labels,
    finetune,
    predict_video,
    upsample_labels,
)
from propagation.labels import UNKNOWN

SPEC = NetworkSpec(classes=("background", "disc", "square"), height=64, width=64)


def _sparse(labels: np.ndarray, frames) -> np.ndarray:
    out = np.full_like(labels, UNKNOWN)
    out[frames] = labels[frames]
    return out


def test_finetune_learns_synthetic_video_from_two_labelled_frames(synthetic_video, miou):
    video = synthetic_video()
    flows = compute_flows(video.frames)
    torch.manual_seed(0)
    model = build_network(SPEC)
    calls = []
    stats = finetune(model, video.frames, _sparse(video.labels, [0, 7]), flows, SPEC,
                     FinetuneConfig(steps=40, lr=3e-3), progress=lambda *a: calls.append(a))
    pred = upsample_labels(predict_video(model, video.frames, SPEC, with_embeddings=False).probs, (64, 64))
    scores = [miou(pred[t], video.labels[t], 3) for t in range(len(pred))]
    assert min(scores) > 0.9, scores
    assert len(calls) == 40 and calls[-1][:2] == (40, 40) and set(calls[-1][2]) == {"loss", "ce", "temporal"}
    assert stats["steps"] == 40 and stats["labelled_frames"] == 2 and stats["final"]["temporal"] > 0
    assert len(stats["loss"]) == 20 and stats["seconds"] > 0


def _weights_after(video, seed: int, flows) -> torch.Tensor:
    torch.manual_seed(0)
    model = build_network(SPEC)
    finetune(model, video.frames, _sparse(video.labels, [2]), flows, SPEC,
             FinetuneConfig(steps=2, batch_size=2, pairs_per_step=1, seed=seed))
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_same_seed_gives_same_weights(synthetic_video):
    video = synthetic_video(num_frames=4)
    flows = compute_flows(video.frames, preset="ultrafast")
    a, b = _weights_after(video, 0, flows), _weights_after(video, 0, flows)
    assert torch.equal(a, b)
    assert not torch.equal(a, _weights_after(video, 1, flows))


def test_finetune_resizes_full_resolution_input_and_runs_without_flows(synthetic_video):
    video = synthetic_video(num_frames=2, size=(96, 80))
    spec = NetworkSpec(classes=SPEC.classes, height=64, width=32)
    model = build_network(spec)
    stats = finetune(model, video.frames, _sparse(video.labels, [0]), None, spec,
                     FinetuneConfig(steps=1, batch_size=1))
    assert stats["final"]["temporal"] == 0.0 and not model.training


def test_single_frame_video(synthetic_video):
    video = synthetic_video(num_frames=1)
    flows = compute_flows(video.frames)
    stats = finetune(build_network(SPEC), video.frames, video.labels, flows, SPEC,
                     FinetuneConfig(steps=1, batch_size=1))
    assert stats["labelled_frames"] == 1


def test_bad_labels_raise_clear_errors(synthetic_video):
    video = synthetic_video(num_frames=2)
    model = build_network(SPEC)
    with pytest.raises(ValueError, match="no labelled pixel"):
        finetune(model, video.frames, np.full_like(video.labels, UNKNOWN), None, SPEC)
    with pytest.raises(ValueError, match="0..2"):
        finetune(model, video.frames, video.labels + 1, None, SPEC)
    with pytest.raises(ValueError, match="labels must be"):
        finetune(model, video.frames, video.labels[:1], None, SPEC)


def test_downscale_labels_keeps_unknown():
    labels = np.zeros((2, 8, 8), np.int64)
    labels[:, :4] = UNKNOWN
    labels[:, 4:, 4:] = 2
    small = downscale_labels(labels, (4, 4))
    assert small.shape == (2, 4, 4) and small.dtype == labels.dtype
    assert (small[:, :2] == UNKNOWN).all() and (small[:, 2:, 2:] == 2).all() and (small[:, 2:, :2] == 0).all()
    clicks = np.full((1, 64, 64), UNKNOWN)
    clicks[0, 0, 0], clicks[0, 40, 21] = 1, 2  # single pixels that nearest sampling would miss
    small = downscale_labels(clicks, (8, 8))
    assert small[0, 0, 0] == 1 and small[0, 5, 2] == 2 and (small != UNKNOWN).sum() == 2
