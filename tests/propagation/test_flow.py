import os

import cv2
import numpy as np
import pytest
import torch

from propagation import (
    DiskArray,
    Flows,
    compute_flows,
    open_flows,
    resize_flow,
    resize_flows,
    warp,
    warp_labels,
)
from propagation.flow import FLOW_FIELDS
from propagation.labels import UNKNOWN
from vidseg.artifacts import cached_flows


@pytest.fixture
def pair(translated_pair):
    frames, labels = translated_pair(shift=(3, 0))
    return frames, labels, compute_flows(frames)


def test_flow_shapes_dtypes_and_translation(pair):
    frames, _, flows = pair
    assert flows.forward.shape == flows.backward.shape == (1, 2, 64, 64)
    assert flows.forward.dtype == np.float16 and flows.valid_forward.dtype == bool
    interior = (slice(None), slice(8, -8), slice(8, -8))
    np.testing.assert_allclose(np.median(flows.forward[0][interior], axis=(1, 2)), [3, 0], atol=0.1)
    np.testing.assert_allclose(np.median(flows.backward[0][interior], axis=(1, 2)), [-3, 0], atol=0.1)


def test_warp_labels_recovers_translated_label_map(pair):
    _, labels, flows = pair
    # Pull frame 1's labels into frame 0's grid with the forward flow.
    warped = warp_labels(labels[1], flows.forward[0])
    assert (warped == labels[0])[4:-4, 4:-4].mean() > 0.95
    assert warped.dtype == labels.dtype


def test_warp_labels_out_of_image_is_unknown():
    labels = np.arange(16).reshape(4, 4)
    flow = np.zeros((2, 4, 4), np.float32)
    flow[0] = 2  # look 2 px to the right
    out = warp_labels(labels, flow)
    np.testing.assert_array_equal(out[:, :2], labels[:, 2:])
    assert (out[:, 2:] == UNKNOWN).all()


def test_tensor_warp_recovers_translated_one_hot(pair):
    _, labels, flows = pair
    one_hot = torch.nn.functional.one_hot(torch.as_tensor(labels[1:]), 3).permute(0, 3, 1, 2).float()
    warped = warp(one_hot, torch.as_tensor(flows.forward[:1]))
    assert warped.shape == one_hot.shape
    assert (warped.argmax(1)[0].numpy() == labels[0])[4:-4, 4:-4].mean() > 0.95


def test_valid_mask_false_where_motion_uncovers(pair):
    _, _, flows = pair
    # Content moves right by 3: frame 0's right edge leaves the image, frame 1's left edge is new.
    assert not flows.valid_forward[0][:, -3:].any()
    assert not flows.valid_backward[0][:, :3].any()
    assert flows.valid_forward[0][:, 4:-4].mean() > 0.95
    assert flows.valid_backward[0][:, 4:-4].mean() > 0.95


def test_valid_mask_flags_occlusion_in_moving_objects(synthetic_video):
    video = synthetic_video(num_frames=2, velocities=((3.0, 0.0),))
    flows = compute_flows(video.frames)
    err = np.abs(flows.forward.astype(np.float32) - video.flow).sum(1)
    # Where the flow is declared valid it is mostly right; the disc's trailing/leading edges are not.
    assert np.median(err[flows.valid_forward]) < 0.5
    assert flows.valid_forward.mean() < 1.0


def test_single_frame_video_gives_empty_flows(synthetic_video):
    frames = synthetic_video(num_frames=1).frames
    flows = compute_flows(frames, size=(32, 32))
    assert len(flows) == 0 and flows.forward.shape == (0, 2, 32, 32) and flows.size == (32, 32)


def test_compute_flows_at_working_size_and_bad_preset(synthetic_video):
    frames = synthetic_video(num_frames=3).frames
    assert compute_flows(frames, size=(32, 48), preset="ultrafast").forward.shape == (2, 2, 32, 48)
    with pytest.raises(ValueError, match="preset"):
        compute_flows(frames, preset="slowest")


def test_flows_cached_on_disk_equal_those_in_memory_and_are_computed_once(tmp_path, pair):
    frames, _, flows = pair
    folder = tmp_path / "video" / "flows"
    cached = cached_flows(folder, frames, (64, 64))
    assert sorted(os.listdir(folder.parent)) == ["flows"]  # the partial folder was renamed into place
    assert isinstance(cached.forward, DiskArray)
    for name in FLOW_FIELDS:
        np.testing.assert_array_equal(getattr(cached, name)[:], getattr(flows, name))
        np.testing.assert_array_equal(np.load(folder / f"{name}.npy"), getattr(flows, name))  # plain .npy files
    stamp = (folder / "forward.npy").stat().st_mtime_ns
    cached_flows(folder, frames, (64, 64))
    assert (folder / "forward.npy").stat().st_mtime_ns == stamp  # kept, not recomputed


def test_a_torn_or_resized_flow_cache_is_recomputed(tmp_path, pair):
    frames, _, flows = pair
    folder = tmp_path / "flows"
    cached_flows(folder, frames, (64, 64))
    with open(folder / "backward.npy", "r+b") as file:
        file.truncate(100)
    with pytest.raises(ValueError, match="backward.npy"):
        open_flows(folder)
    np.testing.assert_array_equal(cached_flows(folder, frames, (64, 64)).backward[:], flows.backward)
    assert cached_flows(folder, frames, (32, 32)).size == (32, 32)
    with pytest.raises(FileNotFoundError):
        open_flows(tmp_path / "missing")


def test_a_video_that_grew_keeps_its_cached_pairs_and_computes_only_the_new_ones(tmp_path, synthetic_video):
    frames = synthetic_video(num_frames=6).frames
    keys = [f"frame-{t}.img" for t in range(len(frames))]
    folder = tmp_path / "flows"
    cached_flows(folder, frames[:4], (32, 32), keys=keys[:4])
    marked = DiskArray.open(folder / "forward.npy", writable=True)
    marked[1] = np.full(marked.shape[1:], 7.0, np.float16)  # a cached pair copied keeps this mark
    grown = cached_flows(folder, frames, (32, 32), keys=keys)
    everything = compute_flows(frames, size=(32, 32))
    assert np.all(grown.forward[1] == 7.0)  # pair 1 (frames 1 -> 2) was copied from the cache
    for name in FLOW_FIELDS:  # every other pair equals the flows computed from scratch
        for t in (0, 2, 3, 4):
            np.testing.assert_array_equal(getattr(grown, name)[t], getattr(everything, name)[t])
    # a frame removed from the middle: the pairs on either side of the gap are new, the rest kept
    kept = [0, 1, 2, 4, 5]
    shrunk = cached_flows(folder, frames[kept], (32, 32), keys=[keys[t] for t in kept])
    assert np.all(shrunk.forward[1] == 7.0) and len(shrunk) == 4
    np.testing.assert_array_equal(shrunk.forward[2], compute_flows(frames[[2, 4]], size=(32, 32)).forward[0])
    np.testing.assert_array_equal(shrunk.forward[3], everything.forward[4])


def test_resize_flow_scales_vectors():
    flow = np.zeros((3, 2, 16, 32), np.float32)
    flow[:, 0], flow[:, 1] = 4.0, -2.0
    small = resize_flow(flow, (8, 8))
    assert small.shape == (3, 2, 8, 8)
    np.testing.assert_allclose(small[:, 0], 1.0)
    np.testing.assert_allclose(small[:, 1], -1.0)
    flows = Flows(flow, -flow, np.ones((3, 16, 32), bool), np.zeros((3, 16, 32), bool))
    resized = resize_flows(flows, (8, 8))
    assert resized.size == (8, 8) and resized.valid_forward.all() and not resized.valid_backward.any()


def test_flows_of_another_preset_are_recomputed_and_caches_without_a_preset_were_medium(tmp_path, pair):
    frames, _, _ = pair
    folder = tmp_path / "flows"
    cached_flows(folder, frames, (64, 64), preset="medium")
    stamp = (folder / "forward.npy").stat().st_mtime_ns
    (folder / "preset.txt").unlink()  # a cache written before presets were recorded
    cached_flows(folder, frames, (64, 64), preset="medium")
    assert (folder / "forward.npy").stat().st_mtime_ns == stamp
    fine = cached_flows(folder, frames, (64, 64), preset="fine")
    assert (folder / "preset.txt").read_text() == "fine"
    np.testing.assert_array_equal(fine.forward[:], compute_flows(frames, size=(64, 64), preset="fine").forward)


def test_fine_flow_carries_a_thin_bar_where_medium_blurs_it_into_its_background():
    """A 3-px bar moving right by 3 px over a background moving left by 2 px: the fine preset
    refines down to full resolution, where the bar's own motion is resolved."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (120, 200)).astype(np.uint8), (5, 5), 1.5)
    frames = []
    for t in range(2):
        image = np.roll(texture, -2 * t, axis=1).copy()
        image[:, 60 + 3 * t:63 + 3 * t] = 255
        frames.append(np.repeat(image[..., None], 3, axis=2))
    frames = np.stack(frames)
    errors = {}
    for preset in ("medium", "fine"):
        flow = compute_flows(frames, preset=preset).backward[0]  # frame 1 pulls from frame 0
        bar = flow[0, 20:100, 63:66]  # the bar in frame 1 came from 3 px to its left
        errors[preset] = float(np.abs(bar + 3).mean())
    assert errors["fine"] < 0.5 * errors["medium"], errors
