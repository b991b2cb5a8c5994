"""Shared fixtures: a real Redis server per test session, a clean database per test, one torch thread."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from redis import Redis

from propagation.labels import UNKNOWN
from vidseg.redis_server import start_private_redis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """REDIS_URL when given (CI services), else a private redis-server on a free port."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = start_private_redis(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


@pytest.fixture
def redis(redis_url):
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tests use tiny tensors: on two shared cores, extra torch threads only spin against other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _regions_frame(size=128, seed=0):
    """(image (H, W, 3) uint8, truth (H, W) int16): three flat-coloured regions with a little noise."""
    truth = np.zeros((size, size), np.int16)
    truth[size // 3:] = 1
    truth[size // 3:, size // 2:] = 2
    colours = np.array([(200, 60, 60), (60, 200, 60), (60, 60, 200)], np.int16)
    noise = np.random.default_rng(seed).integers(-12, 13, (size, size, 3))
    return np.clip(colours[truth] + noise, 0, 255).astype(np.uint8), truth


def _keypoints(truth, per_class=20, seed=0):
    """(H, W) labels: ``per_class`` random pixels of each class of ``truth`` revealed, UNKNOWN elsewhere."""
    rng = np.random.default_rng(seed)
    revealed = np.full(truth.shape, UNKNOWN, truth.dtype)
    for c in np.unique(truth):
        rows, cols = np.nonzero(truth == c)
        picked = rng.choice(len(rows), per_class, replace=False)
        revealed[rows[picked], cols[picked]] = c
    return revealed


@pytest.fixture
def regions_frame():
    """A synthetic frame for the key-point learner: ``regions_frame(size=128, seed=0)``."""
    return _regions_frame


@pytest.fixture
def keypoints():
    """A few clicked pixels per class of a label map: ``keypoints(truth, per_class=20, seed=0)``."""
    return _keypoints
