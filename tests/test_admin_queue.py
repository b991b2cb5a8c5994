"""`import-video` and `connect` queue the first rounds through the webhook's own path (a real Redis),
and go on with one line when Redis cannot be reached."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from rq import Queue

from vidseg import admin
from vidseg.frame_plan import ImportOptions
from vidseg.jobs.queue import RETRAIN_JOB, SCAN_JOB, pending_key
from vidseg.labelstudio.client import LabelStudioClient
from vidseg.redis_server import free_port
from vidseg.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: the fake lives beside this file
from test_import_video import FakeLabelStudio, write_video  # noqa: E402

QUEUE = "test-admin"


def _import(fake: FakeLabelStudio, source: Path, root: Path, settings: Settings, **options) -> list[str]:
    said: list[str] = []
    admin.import_video(LabelStudioClient(fake.url, "a" * 40, retries=0), settings, 1, source, "clip", root,
                       say=said.append, options=ImportOptions(**options), progress_stream=io.StringIO())
    return said


def _jobs(redis) -> list[tuple[str, tuple]]:
    return [(job.func_name, job.args[:2]) for job in Queue(QUEUE, connection=redis).jobs]


def test_an_import_queues_a_round_of_each_new_part_and_a_resumed_one_a_scan(redis, redis_url, tmp_path):
    settings = Settings(redis_url=redis_url, queue_name=QUEUE)
    fake = FakeLabelStudio()
    try:
        source = write_video(tmp_path / "clip.avi", 30, fps=10)
        said = _import(fake, source, tmp_path / "root", settings, split_seconds=2)
        assert _jobs(redis) == [(RETRAIN_JOB, (1, "clip-part001")), (RETRAIN_JOB, (1, "clip-part002"))]
        assert said[-1].startswith("queued a first round of clip-part001, clip-part002: the worker orders")
        assert redis.exists(pending_key(1, "clip-part001"))  # an annotation now folds into the same job

        said = _import(fake, source, tmp_path / "root", settings, split_seconds=2)  # nothing new
        assert _jobs(redis)[2:] == [(SCAN_JOB, (1, None))]  # the worker queues what never had a round
        assert "every video of the project without a round" in said[-1]
    finally:
        fake.close()


def test_without_a_reachable_redis_the_import_ends_with_one_line_on_redis_url(tmp_path):
    fake = FakeLabelStudio()
    try:
        source = write_video(tmp_path / "clip.avi", 6, fps=10)
        for attempt, url in enumerate((None, f"redis://127.0.0.1:{free_port()}/0", "not-a-url")):
            said = _import(fake, source, tmp_path / f"root{attempt}", Settings(redis_url=url))
            assert "REDIS_URL" in said[-1] and "no first round queued" in said[-1], said
            assert "new tasks" in said[-2]
    finally:
        fake.close()
