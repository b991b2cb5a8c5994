import numpy as np

from selection import FrameUnits, RectangleUnits, image_features, select_samples


def _two_scene_video(n_frames=10, h=12, w=16):
    rng = np.random.default_rng(0)
    frames = np.empty((n_frames, h, w, 3), dtype=np.uint8)
    frames[: n_frames // 2] = (180, 60, 40)  # a red scene, then a blue one
    frames[n_frames // 2 :] = (30, 60, 190)
    return np.clip(frames + rng.integers(-5, 6, size=frames.shape), 0, 255).astype(np.uint8)


def test_frame_features_are_thumbnails_that_separate_scenes():
    frames = _two_scene_video()
    features = image_features(FrameUnits(10, 12, 16), frames)
    assert features.shape == (10, 3 * 6 * 8) and features.dtype == np.float32
    within = np.linalg.norm(features[0] - features[1])
    across = np.linalg.norm(features[0] - features[9])
    assert across > 5 * within


def test_cold_start_picks_one_frame_per_scene():
    frames = _two_scene_video()
    units = FrameUnits(10, 12, 16)
    picks = select_samples("cold_start", budget=2, units=units, labelled=np.zeros(10, bool),
                           embeddings=image_features(units, frames))
    assert sorted(p // 5 for p in picks) == [0, 1]


def test_sub_frame_features_hold_colour_statistics_and_position():
    frames = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    frames[:, :, :4] = 255  # left cells white and flat, right cells black and flat
    frames[1, 4:, 4:] = np.random.default_rng(0).integers(0, 255, size=(4, 4, 3))  # one textured cell
    units = RectangleUnits(2, 8, 8, size=4)
    features = image_features(units, frames)
    assert features.shape == (8, 8) and features.dtype == np.float32
    np.testing.assert_allclose(features.mean(axis=0), 0, atol=1e-5)  # centred columns
    intensity, intensity_std = features[:, 0], features[:, 3]
    y_centre, x_centre = features[:, 6], features[:, 7]
    assert intensity[0] > intensity[1]  # white left cell brighter than black right cell
    assert np.argmax(intensity_std) == 7  # the textured cell (frame 1, bottom right)
    np.testing.assert_array_equal(x_centre[[0, 2]] < x_centre[[1, 3]], [True, True])
    np.testing.assert_array_equal(y_centre[[0, 1]] < y_centre[[2, 3]], [True, True])
