"""A video too big for the machine is refused up front with what it needs and what to change."""

import pytest

from vidseg.capacity import (
    GB,
    CapacityError,
    check_round_fits,
    check_simulation_fits,
    folder_bytes,
    round_disk_bytes,
)


def test_a_rounds_disk_grows_with_frames_and_classes_and_is_dominated_by_the_votes():
    one = round_disk_bytes(1000, 12, (360, 640), (96, 128), 16)
    assert round_disk_bytes(2000, 12, (360, 640), (96, 128), 16) == pytest.approx(2 * one, rel=0.01)
    votes = 2 * 12 * 360 * 640 * 1000
    flows = 10 * 360 * 640 * 999
    assert votes + flows < one < 1.2 * (votes + flows)
    assert 8 * GB < one < 9 * GB  # 1000 frames at 720p, flow at 640x360: the README's figure


def test_a_round_that_needs_more_disk_than_is_free_names_the_video_and_the_settings(tmp_path):
    with pytest.raises(CapacityError) as error:
        check_round_fits(tmp_path / "video", 10**18, 0, frames=5000, height=1080, width=1920)
    message = str(error.value)
    assert "5000 frames of 1920x1080" in message and "FLOW_MAX_SIDE" in message and "--split-every" in message
    check_round_fits(tmp_path, 10**6, 0, frames=10, height=64, width=64)  # fits: no error
    # flows already cached count as space the round has
    check_round_fits(tmp_path, 10**18, 0, frames=10, height=64, width=64, flows_cached=10**18)


def test_labels_that_cannot_fit_in_memory_are_refused(tmp_path):
    with pytest.raises(CapacityError, match="human labels alone need"):
        check_round_fits(tmp_path, 0, 10**18, frames=10, height=64, width=64)


def test_a_simulation_that_cannot_fit_says_how_many_frames_would():
    with pytest.raises(CapacityError, match=r"--max-frames \d+"):
        check_simulation_fits(10**7, 720, 1280, 12)
    check_simulation_fits(10, 96, 128, 12)


def test_folder_bytes_counts_what_is_on_disk(tmp_path):
    assert folder_bytes(tmp_path / "missing") == 0
    (tmp_path / "a").write_bytes(b"x" * 100_000)
    assert folder_bytes(tmp_path) >= 100_000
