"""Coalescing rules against a real Redis."""

import pytest
from rq import Queue

from vidseg.jobs.queue import claim_pending, enqueue_coalesced, pending_key


def _enqueue(redis, queue, video="clip-1"):
    return enqueue_coalesced(redis, queue, "vidseg.jobs.retrain.retrain_video", 1, video, job_timeout=60,
                             description="test")


def test_events_fold_into_the_pending_job(redis):
    queue = Queue("test", connection=redis)
    first = _enqueue(redis, queue)
    second = _enqueue(redis, queue)
    assert not first.coalesced and second.coalesced
    assert second.job_id == first.job_id
    assert queue.count == 1


def test_videos_do_not_coalesce_with_each_other(redis):
    queue = Queue("test", connection=redis)
    _enqueue(redis, queue, "a")
    _enqueue(redis, queue, "b")
    assert queue.count == 2


def test_an_event_after_the_claim_queues_a_follow_up(redis):
    queue = Queue("test", connection=redis)
    first = _enqueue(redis, queue)
    assert claim_pending(redis, 1, "clip-1", first.job_id)
    follow_up = _enqueue(redis, queue)
    assert not follow_up.coalesced
    assert queue.count == 2
    # a stale job cannot clear the follow-up's pending slot
    assert not claim_pending(redis, 1, "clip-1", first.job_id)
    assert redis.get(pending_key(1, "clip-1")).decode() == follow_up.job_id


def test_failed_enqueue_releases_the_pending_slot(redis):
    class BrokenQueue:
        def enqueue(self, *args, **kwargs):
            raise ConnectionError("queue down")

    with pytest.raises(ConnectionError):
        _enqueue(redis, BrokenQueue())
    assert redis.get(pending_key(1, "clip-1")) is None
