import torch
import torch.nn.functional as F

from propagation import masked_cross_entropy, temporal_consistency, warp
from propagation.labels import UNKNOWN


def test_masked_cross_entropy_ignores_unknown_pixels():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8)
    labels = torch.randint(0, 3, (2, 8, 8))
    labels[:, :4] = UNKNOWN
    loss = masked_cross_entropy(logits, labels)
    # The same loss whatever the logits of the ignored pixels say.
    other = logits.clone()
    other[:, :, :4] = torch.randn(2, 3, 4, 8) * 10
    torch.testing.assert_close(masked_cross_entropy(other, labels), loss)
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels, ignore_index=UNKNOWN))


def test_masked_cross_entropy_is_zero_with_grad_when_nothing_is_labelled():
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = masked_cross_entropy(logits, torch.full((1, 4, 4), UNKNOWN))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and not torch.isnan(logits.grad).any()


def _shifted_probs(shift: int = 3):
    torch.manual_seed(0)
    probs_next = torch.randn(1, 4, 16, 16).softmax(1)
    # Content moves right by `shift`: frame t at x is frame t+1 at x + shift.
    probs_t = torch.roll(probs_next, -shift, dims=-1)
    flow = torch.zeros(1, 2, 16, 16)
    flow[:, 0] = shift
    valid = torch.zeros(1, 16, 16, dtype=torch.bool)
    valid[:, :, : 16 - shift] = True  # x + shift inside the image
    return probs_t, probs_next, flow, valid


def test_temporal_consistency_zero_for_consistent_predictions():
    probs_t, probs_next, flow, valid = _shifted_probs()
    loss = temporal_consistency(probs_t, probs_next, flow, valid)
    assert abs(loss.item()) < 1e-6
    torch.testing.assert_close(warp(probs_next, flow)[..., :13], probs_t[..., :13])


def test_temporal_consistency_positive_for_inconsistent_and_bounded():
    probs_t, probs_next, flow, valid = _shifted_probs()
    assert temporal_consistency(probs_t, probs_next, torch.zeros_like(flow), valid).item() > 0.05
    one_hot_a = F.one_hot(torch.zeros(1, 8, 8, dtype=torch.long), 3).permute(0, 3, 1, 2).float()
    one_hot_b = F.one_hot(torch.ones(1, 8, 8, dtype=torch.long), 3).permute(0, 3, 1, 2).float()
    everywhere = torch.ones(1, 8, 8, dtype=torch.bool)
    zero_flow = torch.zeros(1, 2, 8, 8)
    assert temporal_consistency(one_hot_a, one_hot_b, zero_flow, everywhere).item() == 1.0
    assert temporal_consistency(one_hot_a, one_hot_b, zero_flow, ~everywhere).item() == 0.0


def test_temporal_consistency_has_gradients_through_both_frames():
    probs_t, probs_next, flow, valid = _shifted_probs()
    a = probs_t.clone().requires_grad_()
    b = probs_next.roll(1, dims=-2).requires_grad_()
    temporal_consistency(a, b, flow, valid).backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0
