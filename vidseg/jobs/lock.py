"""A video's Redis lock, held by the job that trains it and renewed while the job runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis

from vidseg.jobs.queue import lock_key

log = logging.getLogger("vidseg.worker")

LOCK_SECONDS = 120
"""A video's lock lives this long unless the running job renews it, so a killed job frees its video soon."""


class JobError(RuntimeError):
    """A job cannot go on; the message (kept in the video's status) says why and what to fix."""


@contextmanager
def video_lock(redis: Redis, project: int, video: str, wait_seconds: int) -> Iterator[None]:
    """Hold the video's lock (waiting up to `wait_seconds` for another job to finish), renewed by a heartbeat."""
    # Not thread-local: the heartbeat thread renews the token this thread acquired.
    lock = redis.lock(lock_key(project, video), timeout=LOCK_SECONDS, blocking_timeout=wait_seconds,
                      thread_local=False)
    if not lock.acquire():
        raise JobError(f"video {video!r} stayed locked by another job for {wait_seconds} s")
    heartbeat = LockHeartbeat(lock)
    try:
        yield
    finally:
        heartbeat.stop()
        if lock.owned():
            lock.release()


class LockHeartbeat(threading.Thread):
    """Renews a lock while the job runs; dies with the job (SIGKILL included)."""

    def __init__(self, lock):
        super().__init__(daemon=True, name="vidseg-lock-heartbeat")
        self.lock, self._stopped = lock, threading.Event()
        self.start()

    def run(self) -> None:
        while not self._stopped.wait(LOCK_SECONDS / 3):
            try:
                self.lock.reacquire()
            except Exception:  # lost or Redis down: the job goes on, the lock may expire
                log.warning("could not renew %s", self.lock.name, exc_info=True)

    def stop(self) -> None:
        self._stopped.set()
