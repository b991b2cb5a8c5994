"""Where a video's network starts: its last round, else the base checkpoint, else scratch."""

import torch

from propagation import NetworkSpec, build_network, starting_network
from vidseg.artifacts import save_checkpoint
from vidseg.jobs.retrain import frames_model_trained_on
from vidseg.store import Store

SPEC = NetworkSpec(classes=("road", "car"), height=64, width=64)


def _first_weight(model):
    return next(iter(model.state_dict().values())).clone()


def test_base_checkpoint_then_warm_start(tmp_path):
    torch.manual_seed(1)
    base = build_network(SPEC)
    save_checkpoint(tmp_path / "base.pt", base, SPEC)
    store = Store(tmp_path / "models").video(1, "clip")
    started = starting_network(SPEC, warm=store.checkpoint_path, base=tmp_path / "base.pt")
    assert torch.equal(_first_weight(started), _first_weight(base))

    with torch.no_grad():
        next(iter(started.parameters())).add_(1.0)
    save_checkpoint(store.checkpoint_path, started, SPEC, {"round": 1})
    warm = starting_network(SPEC, warm=store.checkpoint_path, base=tmp_path / "base.pt")
    assert torch.equal(_first_weight(warm), _first_weight(started))


def test_changed_classes_start_a_new_network(tmp_path):
    """Scratch too when the base is absent: the head has the new classes."""
    store = Store(tmp_path / "models").video(1, "clip")
    save_checkpoint(store.checkpoint_path, build_network(SPEC), SPEC, {"round": 3})
    other = NetworkSpec(classes=("road", "car", "sky"), height=64, width=64)
    model = starting_network(other, warm=store.checkpoint_path)
    assert model.segmentation_head[0].out_channels == 3


def test_a_running_job_renews_its_video_lock(redis, monkeypatch):
    import time

    from vidseg.jobs import lock as video_lock

    monkeypatch.setattr(video_lock, "LOCK_SECONDS", 0.6)
    lock = redis.lock("vidseg:test-lock", timeout=0.6, thread_local=False)
    assert lock.acquire()
    heartbeat = video_lock.LockHeartbeat(lock)
    time.sleep(1.5)  # well past the lock's own lifetime
    assert lock.owned()
    heartbeat.stop()
    time.sleep(0.8)
    assert not lock.owned()  # without renewal it expires


def test_a_new_video_starts_from_the_projects_newest_model_unless_switched_off(tmp_path):
    import os

    from vidseg.jobs.retrain import _base_checkpoint
    from vidseg.settings import Settings

    store = Store(tmp_path / "models")
    new = store.video(1, "new-clip")
    settings = Settings(model_dir=tmp_path / "models", base_checkpoint=tmp_path / "base.pt")
    assert _base_checkpoint(settings, new, SPEC) == tmp_path / "base.pt"  # no other video trained yet
    older, newer = store.video(1, "first"), store.video(1, "second")
    save_checkpoint(older.checkpoint_path, build_network(SPEC), SPEC)
    save_checkpoint(newer.checkpoint_path, build_network(SPEC), SPEC)
    os.utime(older.checkpoint_path, ns=(1, 1))
    save_checkpoint(store.video(2, "other-project").checkpoint_path, build_network(SPEC), SPEC)
    assert _base_checkpoint(settings, new, SPEC) == newer.checkpoint_path
    assert newer.project_checkpoint() == older.checkpoint_path  # never a video's own
    bigger = NetworkSpec(classes=SPEC.classes, height=96, width=96)
    assert _base_checkpoint(settings, new, bigger) == tmp_path / "base.pt"  # another network: not usable
    off = Settings(model_dir=tmp_path / "models", project_memory=False)
    assert _base_checkpoint(off, new, SPEC) is None


def test_the_frames_a_starting_model_has_trained_on(tmp_path):
    """The round checks its weight on the labelled frames outside them (vidseg.engine.run_round's trained_on)."""
    store = Store(tmp_path / "models").video(1, "clip")
    assert frames_model_trained_on(store, None) is None  # fresh weights: nothing to check
    assert frames_model_trained_on(store, tmp_path / "base.pt") == []  # every labelled frame is new to it
    save_checkpoint(store.checkpoint_path, build_network(SPEC), SPEC, {"round": 1})
    assert frames_model_trained_on(store, None) is None  # it does not say what it trained on
    save_checkpoint(store.checkpoint_path, build_network(SPEC), SPEC, {"round": 2, "trained_on": [1, 4]})
    assert frames_model_trained_on(store, None) == [1, 4]
