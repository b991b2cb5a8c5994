"""Predictions stored one round at a time and read frame by frame: real files, no mocks."""

from __future__ import annotations

import json
import threading
import tracemalloc

import pytest

from vidseg.atomic import atomic_write_json
from vidseg.store import Store
from vidseg.stored_predictions import RoundReplaced


def _entry(frame: int, round_number: int, size: int = 8) -> dict:
    rle = [round_number] * size
    return {"task_id": 100 + frame, "score": round_number + frame / 1000, "cluster": frame % 3,
            "confidence": 0.5, "result": [{"type": "brushlabels", "value": {"rle": rle, "format": "rle"},
                                           "round": round_number}]}


def _round(round_number: int, frames: int = 5) -> dict:
    return {"round": round_number, "model_version": "vidseg",
            "frames": {str(f): _entry(f, round_number) for f in range(frames)}}


def test_each_frame_is_looked_up_alone_and_a_missing_frame_is_none(tmp_path):
    video = Store(tmp_path).video(1, "clip")
    video.write_predictions(_round(3))
    assert video.prediction(2) == _entry(2, 3)
    assert video.prediction("4") == _entry(4, 3)  # the keys of the dict format work too
    assert video.prediction(5) is None and video.prediction(-1) is None
    entry, result = video.prediction_parts([1])[0]
    assert "result" not in entry and json.loads(result) == _entry(1, 3)["result"]
    stored = video.predictions_round()
    assert (stored.round, stored.model_version, stored.frames) == (3, "vidseg", ["0", "1", "2", "3", "4"])
    assert 2 in stored and 7 not in stored
    assert video.predictions() == _round(3)


def test_a_round_being_written_is_invisible_until_it_is_whole(tmp_path):
    video = Store(tmp_path).video(1, "clip")
    video.write_predictions(_round(1))
    other_process = Store(tmp_path).video(1, "clip")
    with video.predictions_writer(2, "vidseg") as writer:
        for frame in range(5):
            writer.add(frame, _entry(frame, 2))
            assert other_process.prediction(frame) == _entry(frame, 1)
    assert [other_process.prediction(f) for f in range(5)] == [_entry(f, 2) for f in range(5)]


def test_an_error_while_writing_drops_the_new_round_and_keeps_the_old(tmp_path):
    video = Store(tmp_path).video(1, "clip")
    video.write_predictions(_round(1))
    with pytest.raises(RuntimeError, match="worker died"), video.predictions_writer(2) as writer:
        writer.add(0, _entry(0, 2))
        raise RuntimeError("worker died")
    with pytest.raises(ValueError, match="frame 0 was already added"), video.predictions_writer(2) as writer:
        writer.add(0, _entry(0, 2))
        writer.add("0", _entry(0, 2))
    assert video.predictions() == _round(1)
    assert not [p for p in video.dir.rglob("*") if p.name.endswith(".tmp")]


def test_readers_during_many_round_swaps_see_one_whole_round(tmp_path):
    """Threads read all frames of the video while rounds replace each other (and the old ones are removed):
    every read is complete and from one round."""
    Store(tmp_path).video(1, "clip").write_predictions(_round(1, frames=20))
    done, seen, errors = threading.Event(), set(), []

    def reader():
        video = Store(tmp_path).video(1, "clip")  # a web process of its own
        try:
            while not done.is_set():
                parts = video.prediction_parts(range(20))
                rounds = {json.loads(result)[0]["round"] for _, result in parts}
                assert len(rounds) == 1 and None not in parts, rounds
                assert [entry["task_id"] for entry, _ in parts] == list(range(100, 120))
                seen.update(rounds)
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    writer = Store(tmp_path).video(1, "clip")
    for number in range(2, 40):
        writer.write_predictions(_round(number, frames=20))
    done.set()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]
    assert len(seen) > 1  # the readers did overlap the swaps
    assert len([p for p in writer.predictions_dir.iterdir() if p.is_dir()]) == 1


def test_a_round_replaced_under_a_reader_says_so_and_the_store_looks_again(tmp_path):
    video = Store(tmp_path).video(1, "clip")
    video.write_predictions(_round(1))
    old = video.predictions_round()
    Store(tmp_path).video(1, "clip").write_predictions(_round(2))
    with pytest.raises(RoundReplaced):
        old.parts([0])
    assert video.prediction(0) == _entry(0, 2)


def test_the_writer_puts_each_entry_on_disk_and_keeps_none_in_memory(tmp_path):
    video = Store(tmp_path).video(1, "clip")
    tracemalloc.start()
    try:
        with video.predictions_writer(1, "vidseg") as writer:
            (folder,) = video.predictions_dir.glob(".round-*.tmp")
            baseline = tracemalloc.get_traced_memory()[0]
            for frame in range(100):  # 100 entries of 200 KB: 20 MB in all
                writer.add(frame, {"score": 0.5, "result": [{"value": {"rle": f"{frame:03d}" * 66_667}}]})
                written = (folder / "entries.bin").stat().st_size
                assert written >= (frame + 1) * 200_000  # on disk when add returns
                assert tracemalloc.get_traced_memory()[0] - baseline < 1_000_000
    finally:
        tracemalloc.stop()
    assert video.prediction(99)["result"][0]["value"]["rle"] == "099" * 66_667


def test_predictions_json_of_the_format_before_is_read_then_replaced(tmp_path):
    video = Store(tmp_path).video(1, "clip")
    atomic_write_json(video.legacy_predictions_path, _round(4))  # what a previous version left
    assert video.prediction(3) == _entry(3, 4) and video.prediction(9) is None
    assert video.predictions_round().round == 4 and video.predictions() == _round(4)
    entry, result = video.prediction_parts([0])[0]
    assert json.loads(result) == _entry(0, 4)["result"] and entry["task_id"] == 100
    video.write_predictions(_round(5))
    assert not video.legacy_predictions_path.exists()  # superseded by the new round, nothing left behind
    assert video.prediction(3) == _entry(3, 5)


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_lock_holder(tmp_path):
    video = Store(tmp_path).video(1, "clip")
    video.write_predictions(_round(1))
    dead = video.predictions_dir / ".round-000002-abcd.tmp"
    dead.mkdir()
    (dead / "entries.bin").write_bytes(b"half")
    orphan = video.predictions_dir / "round-000002-deadbeef"  # renamed, but `current` never pointed at it
    orphan.mkdir()
    video.remove_stale_temporaries()
    assert not dead.exists() and not orphan.exists()
    assert video.predictions() == _round(1)
