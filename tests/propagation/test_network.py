import numpy as np
import pytest
import torch

from propagation import (
    NetworkSpec,
    build_network,
    capture_embeddings,
    embedding_dim,
    forward_with_embeddings,
    normalise,
)

CLASSES = ("background", "disc", "square")


def test_spec_rejects_size_not_divisible_by_32():
    with pytest.raises(ValueError, match="multiple of 32"):
        NetworkSpec(classes=CLASSES, height=100, width=64)
    with pytest.raises(ValueError, match="width"):
        NetworkSpec(classes=CLASSES, height=64, width=70)


def test_spec_rejects_empty_or_duplicate_classes():
    with pytest.raises(ValueError, match="empty"):
        NetworkSpec(classes=())
    with pytest.raises(ValueError, match="duplicates"):
        NetworkSpec(classes=("a", "a"))


def test_spec_dict_round_trip_accepts_lists():
    spec = NetworkSpec(classes=CLASSES, height=64, width=96)
    data = spec.to_dict()
    assert data["classes"] == list(CLASSES) and data["encoder_weights"] is None
    assert NetworkSpec.from_dict({**data, "future_field": 1}) == spec
    assert hash(NetworkSpec.from_dict(data)) == hash(spec)


def test_network_outputs_logits_and_embeddings():
    spec = NetworkSpec(classes=CLASSES, height=64, width=96)
    model = build_network(spec).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        logits, emb = forward_with_embeddings(model, x)
    assert logits.shape == (2, 3, 64, 96)
    assert emb.shape == (2, embedding_dim(spec), 64, 96)
    assert embedding_dim(spec) == embedding_dim(spec, model) == spec.decoder_channels[-1]
    # The hook is removed after the context: no lingering captures.
    with capture_embeddings(model) as store:
        pass
    with torch.no_grad():
        model(x)
    assert store == {} and not model.segmentation_head._forward_hooks


def test_normalise_resizes_and_standardises():
    spec = NetworkSpec(classes=CLASSES, height=32, width=64)
    frames = np.full((2, 48, 80, 3), 255, np.uint8)
    x = normalise(frames, spec)
    assert x.shape == (2, 3, 32, 64) and x.dtype == torch.float32
    expected = (1.0 - torch.tensor(spec.mean)) / torch.tensor(spec.std)
    torch.testing.assert_close(x[0, :, 5, 5], expected)
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        normalise(frames[0], spec)
