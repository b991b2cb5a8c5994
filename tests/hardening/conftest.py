"""Fixtures for the hardening tests: a stub Label Studio over real HTTP, and job settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which does not put test folders on sys.path.
sys.path.insert(0, str(Path(__file__).parent))
from hardening_support import TOKEN, StubLabelStudio  # noqa: E402


@pytest.fixture
def stub_ls():
    with StubLabelStudio() as stub:
        yield stub


@pytest.fixture
def job_env(monkeypatch, tmp_path, redis_url, redis, stub_ls) -> dict:
    """Environment for running the real retrain job against the stub: tiny network and frames."""
    env = {
        "MODEL_DIR": str(tmp_path / "models"), "REDIS_URL": redis_url, "LABEL_STUDIO_URL": stub_ls.url,
        "LABEL_STUDIO_API_KEY": TOKEN, "WORK_HEIGHT": "32", "WORK_WIDTH": "64", "TRAIN_STEPS": "2",
        "BATCH_SIZE": "2", "BUDGET": "1", "JOB_TIMEOUT": "30", "DEVICE": "cpu", "QUEUE_NAME": "hardening",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env


@pytest.fixture
def fast_retries(monkeypatch):
    """The client's backoff between retries shrunk to 10 ms (the attempts themselves are real)."""
    from vidseg.labelstudio.client import LabelStudioClient

    delays = []

    def delay(self, attempt, retry_after=None):
        delays.append((attempt, retry_after))
        return 0.01

    monkeypatch.setattr(LabelStudioClient, "_delay", delay)
    return delays
