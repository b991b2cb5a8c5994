import os

import numpy as np
import pytest
import torch

from propagation import (
    CheckpointError,
    NetworkSpec,
    build_network,
    load_checkpoint,
    load_user_checkpoint,
)
from vidseg.artifacts import save_checkpoint

SPEC = NetworkSpec(classes=("background", "disc", "square"), height=64, width=64)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_network(SPEC).eval()


def _same_output(a, b) -> bool:
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        return torch.equal(a.eval()(x), b.eval()(x))


def test_round_trip_is_atomic_and_exact(tmp_path, model):
    path = tmp_path / "video" / "model.pt"
    save_checkpoint(path, model, SPEC, {"round": np.int64(3), "steps": 100, "classes": ("a", "b")})
    assert os.listdir(path.parent) == ["model.pt"]  # no temp file left behind
    loaded, spec, extra = load_checkpoint(path)
    assert spec == SPEC
    assert extra == {"round": 3, "steps": 100, "classes": ["a", "b"]}
    assert not loaded.training and _same_output(model, loaded)
    save_checkpoint(path, loaded, spec, {"round": 4})  # overwrite in place
    assert load_checkpoint(path)[2] == {"round": 4}


def test_corrupt_or_missing_file_raises_checkpoint_error(tmp_path, model):
    path = tmp_path / "model.pt"
    with pytest.raises(CheckpointError, match="not found") as info:
        load_checkpoint(path)
    assert info.value.path == str(path)
    save_checkpoint(path, model, SPEC)
    path.write_bytes(path.read_bytes()[:1000])  # truncated, as after a crash without atomic write
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(path)


def test_bare_state_dict_is_not_our_format_but_warm_starts(tmp_path, model):
    path = tmp_path / "user.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    with pytest.raises(CheckpointError, match="not a vidseg-checkpoint"):
        load_checkpoint(path)
    warm, skipped = load_user_checkpoint(path, SPEC)
    assert skipped == [] and _same_output(model, warm)


def test_user_checkpoint_with_other_classes_skips_only_the_head(tmp_path, model):
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, SPEC)
    other = NetworkSpec(classes=("a", "b", "c", "d", "e"), height=64, width=64)
    warm, skipped = load_user_checkpoint(path, other)
    assert skipped and all(name.startswith("segmentation_head.") for name in skipped)
    encoder_weight = next(k for k in model.state_dict() if k.startswith("encoder."))
    torch.testing.assert_close(warm.state_dict()[encoder_weight], model.state_dict()[encoder_weight])


def test_user_checkpoint_of_another_network_is_refused(tmp_path, model):
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, SPEC)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_user_checkpoint(path, NetworkSpec(classes=SPEC.classes, height=64, width=64,
                                               decoder_channels=(256, 128, 64, 32, 16)))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError):
        load_user_checkpoint(tmp_path / "junk.pt", SPEC)
