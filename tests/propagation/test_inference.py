import numpy as np
import pytest
import torch

from propagation import NetworkSpec, build_network, predict_video, upsample_labels

SPEC = NetworkSpec(classes=("a", "b", "c"), height=32, width=64)


def test_predict_video_shapes_and_batch_independence(synthetic_video):
    frames = synthetic_video(num_frames=5, size=(48, 80)).frames
    torch.manual_seed(0)
    model = build_network(SPEC)
    done = []
    pred = predict_video(model, frames, SPEC, batch_size=2, progress=lambda d, n: done.append((d, n)))
    assert pred.probs.shape == (5, 3, 32, 64) and pred.probs.dtype == np.float16
    np.testing.assert_allclose(pred.probs.astype(np.float32).sum(1), 1.0, atol=1e-2)
    assert pred.embeddings.shape == (5, SPEC.decoder_channels[-1], 16, 32)
    assert pred.embeddings.dtype == np.float16
    assert done == [(2, 5), (4, 5), (5, 5)]
    again = predict_video(model, frames, SPEC, batch_size=5, with_embeddings=False)
    assert again.embeddings is None
    np.testing.assert_allclose(again.probs.astype(np.float32), pred.probs.astype(np.float32), atol=2e-3)


def test_upsample_labels_interpolates_probabilities_before_argmax():
    probs = np.zeros((3, 2, 2), np.float32)
    probs[0, :, 0] = 1.0  # left column class 0
    probs[1, :, 1] = 0.55  # right column class 1, but only just
    probs[2, :, 1] = 0.45
    labels = upsample_labels(probs, (4, 8))
    assert labels.shape == (4, 8) and labels.dtype == np.int32
    # Upsampling a label map would split 4 | 4; the unsure right column loses a pixel column instead.
    assert (labels[:, :5] == 0).all() and (labels[:, 5:] == 1).all()
    stacked = upsample_labels(np.stack([probs, probs[::-1]]), (4, 8))
    assert stacked.shape == (2, 4, 8)
    np.testing.assert_array_equal(stacked[0], labels)
    with pytest.raises(ValueError):
        upsample_labels(probs[0], (4, 8))
