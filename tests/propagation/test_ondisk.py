"""Per-frame arrays on disk (DiskArray) and sparse label maps (SparseLabels)."""

import numpy as np
import pytest

from propagation import UNKNOWN, DiskArray, SparseLabels, in_memory, on_disk


def test_a_disk_array_is_a_zero_filled_npy_file_read_and_written_a_frame_at_a_time(tmp_path):
    array = on_disk(tmp_path)("votes", (4, 2, 3), np.float16)
    assert isinstance(array, DiskArray) and array.shape == (4, 2, 3) and len(array) == 4
    np.testing.assert_array_equal(array[:], np.zeros((4, 2, 3)))
    values = np.arange(24, dtype=np.float16).reshape(4, 2, 3)
    array[0] = values[0]
    array[1:4] = values[1:]
    array[2] = array[2] + 1  # read-modify-write, as `out[t] += x` does
    values[2] += 1
    np.testing.assert_array_equal(np.load(tmp_path / "votes.npy"), values)  # numpy reads it as it is
    reopened = DiskArray.open(tmp_path / "votes.npy")
    np.testing.assert_array_equal(reopened[3], values[3])
    np.testing.assert_array_equal(reopened[-1], values[3])
    np.testing.assert_array_equal(reopened[[3, 0, 3]], values[[3, 0, 3]])
    np.testing.assert_array_equal(reopened[::-2], values[::-2])
    np.testing.assert_array_equal(reopened[1:3, :, 1:], values[1:3, :, 1:])
    np.testing.assert_array_equal(reopened[2, 1], values[2, 1])
    with pytest.raises(PermissionError):
        reopened[0] = values[0]
    with pytest.raises(IndexError):
        reopened[4]


def test_a_torn_or_foreign_file_is_refused(tmp_path):
    array = DiskArray.create(tmp_path / "a.npy", (3, 5), np.int16)
    array[:] = 7
    with open(tmp_path / "a.npy", "r+b") as file:
        file.truncate(file.seek(0, 2) - 2)
    with pytest.raises(ValueError, match="not a complete"):
        DiskArray.open(tmp_path / "a.npy")
    (tmp_path / "b.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="not an .npy"):
        DiskArray.open(tmp_path / "b.npy")


def test_the_in_memory_scratch_gives_plain_zero_arrays():
    array = in_memory("votes", (2, 3), np.float32)
    assert isinstance(array, np.ndarray) and not array.any()


def test_sparse_labels_hold_only_labelled_frames_and_read_like_an_array():
    dense = np.full((5, 4, 6), UNKNOWN, np.int16)
    dense[1, 0, 0] = 2
    dense[3] = 1
    sparse = SparseLabels.from_dense(dense)
    assert sorted(sparse.maps) == [1, 3] and sparse.any_known()
    np.testing.assert_array_equal(sparse.known_frames, [1, 3])
    np.testing.assert_array_equal(sparse.labelled_frames(), [False, True, False, True, False])
    np.testing.assert_array_equal(sparse.dense(), dense)
    np.testing.assert_array_equal(sparse[[4, 1]], dense[[4, 1]])
    np.testing.assert_array_equal(sparse[-2], dense[3])
    sparse[3] = np.full((4, 6), UNKNOWN)  # a map with no label removes the frame
    assert sorted(sparse.maps) == [1]
    with pytest.raises(ValueError, match="does not match"):
        sparse[0] = np.zeros((2, 2))


def test_sparse_labels_shrink_without_losing_a_clicked_pixel():
    sparse = SparseLabels(3, (8, 8))
    clicks = np.full((8, 8), UNKNOWN, np.int16)
    clicks[5, 3] = 1
    sparse[2] = clicks
    small = sparse.resized((4, 4))
    assert small.shape == (3, 4, 4) and sorted(small.maps) == [2]
    assert small[2][2, 1] == 1 and (small[2] != UNKNOWN).sum() == 1
