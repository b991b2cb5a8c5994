"""The status keeps a bounded history of rounds (the admin page shows it), written by the real job."""

from __future__ import annotations

from pathlib import Path

from hardening_support import annotate

from vidseg.jobs import retrain
from vidseg.store import Store


def test_each_round_appends_to_a_bounded_history(job_env, stub_ls, monkeypatch):
    monkeypatch.setattr(retrain, "HISTORY_ROUNDS", 2)
    annotate(stub_ls, 0)
    for job in range(3):
        if job == 1:
            annotate(stub_ls, 2)
        retrain.retrain_video(1, "clip-1", f"job-{job}")
    status = Store(Path(job_env["MODEL_DIR"])).video(1, "clip-1").status()
    history = status["history"]
    assert [entry["round"] for entry in history] == [2, 3]  # the oldest round dropped
    assert [entry["frames_labelled"] for entry in history] == [2, 2]
    assert history[-1]["selected"] == status["selected"] and history[-1]["finished_at"] == status["last_trained_at"]
    assert all(entry["duration_s"] > 0 and entry["selected_by"] for entry in history)
