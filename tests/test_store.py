from vidseg.store import Store, video_key


def test_video_keys_are_safe_and_distinct():
    assert "/" not in video_key("../../etc/passwd")
    assert video_key("clip 1") != video_key("clip-1")
    assert video_key("0016E5").startswith("0016E5-")


def test_status_merges_and_survives_reopen(tmp_path):
    video = Store(tmp_path).video(3, "clip-1")
    assert video.status()["round"] == 0
    video.update_status(round=1, state="idle")
    video.update_status(last_error="boom")
    reopened = Store(tmp_path).video(3, "clip-1").status()
    assert reopened["round"] == 1 and reopened["state"] == "idle" and reopened["last_error"] == "boom"
    assert [s["video"] for s in Store(tmp_path).statuses(3)] == ["clip-1"]


def test_predictions_are_reread_when_a_new_round_replaces_them(tmp_path):
    video = Store(tmp_path).video(1, "v")
    assert video.predictions() is None and video.prediction(0) is None
    video.write_predictions({"round": 1, "frames": {"0": {"score": 0.1}}})
    assert video.predictions()["round"] == 1 and video.prediction(0) == {"score": 0.1}
    video.write_predictions({"round": 2, "frames": {}})
    assert video.predictions()["round"] == 2 and video.prediction(0) is None
    assert not [p for p in video.dir.rglob("*") if p.name.endswith(".tmp")]
    (only,) = [p for p in video.predictions_dir.iterdir() if p.is_dir()]  # round 1 is gone
    assert only.name.startswith("round-000002-")
    assert Store(tmp_path).video(1, "v").predictions_round().round == 2  # another process reads the same


def test_the_in_memory_cache_of_video_stores_is_bounded(tmp_path, monkeypatch):
    store = Store(tmp_path)
    monkeypatch.setattr(Store, "MAX_CACHED_VIDEOS", 3)
    first = store.video(1, "a")
    for name in "bcd":
        store.video(1, name)
    assert len(store._videos) == 3
    assert store.video(1, "a") is not first  # evicted, rebuilt on demand
