"""Shared fixtures: a real Redis server per test session, a clean database per test, one torch thread."""

from __future__ import annotations

import os

import pytest
import torch
from redis import Redis

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
