"""Delivering a round's predictions to Label Studio: concurrent, bounded, and only what changed.

Every frame task keeps exactly one prediction of the project's ``model_version``, with ``score`` and
``cluster`` (uncertainty sampling reads both). Per task that is one POST the first time and one PATCH
after; Label Studio's bulk ``import/predictions`` cannot replace it: it drops ``cluster`` and adds a
second prediction on every import (measured in benchmarks/bench_delivery.py, see the README).

So the round's entries stream through a small thread pool (``concurrency`` requests in flight, at
most twice that many entries waiting), and an entry equal to the one the previous round delivered
to the same task sends nothing at all.

    report = deliver_predictions(client, project, "vidseg", zip(tasks, entries),
                                 previous=lambda task: store.prediction(frame_of(task)),
                                 record=lambda task, entry: writer.add(frame_of(task), entry))
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from vidseg.labelstudio.client import LabelStudioClient, LabelStudioError, own_predictions

DEFAULT_CONCURRENCY = 4
logger = logging.getLogger(__name__)


class DeliveryError(LabelStudioError):
    """Pushing one task's prediction failed; the message names the task and Label Studio's answer."""

    def __init__(self, task_id: int, cause: LabelStudioError):
        super().__init__(f"prediction of task {task_id}: {cause}", None, cause.body)
        self.status = cause.status  # an attribute only: str(cause) already starts with "HTTP <status>"
        self.task_id = task_id


@dataclass
class DeliveryReport:
    """What one delivery did: predictions sent (one POST or PATCH each) and frames left as they were."""

    pushed: int = 0
    skipped: int = 0


def unchanged(task: dict, entry: dict, previous: dict | None, model_version: str) -> bool:
    """True when Label Studio already holds ``entry``: the previous round delivered the same result,
    score and cluster to this task, and the task (read with ``fields=all``) has exactly one
    prediction of ``model_version`` that still carries that score and cluster."""
    if previous is None or previous.get("task_id") != task["id"]:
        return False
    own = own_predictions(task, model_version)
    if len(own) != 1:
        return False
    held = own[0]
    if "score" in held and (held["score"] is None or float(held["score"]) != float(entry["score"])):
        return False
    if "cluster" in held and held["cluster"] != entry["cluster"]:
        return False
    return (float(previous.get("score", float("nan"))) == float(entry["score"])
            and previous.get("cluster") == entry["cluster"]
            and previous.get("result") == _as_stored(entry["result"]))


def _as_stored(result: list[dict]) -> list:
    """The result as the store gives it back (through JSON: tuples become lists)."""
    return json.loads(json.dumps(result))


def deliver_predictions(
    client: LabelStudioClient,
    project: int,
    model_version: str,
    tasks_and_entries: Iterable[tuple[dict, dict]],
    *,
    previous: Callable[[dict], dict | None] = lambda task: None,
    record: Callable[[dict, dict], None] = lambda task, entry: None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[int], None] = lambda done: None,
) -> DeliveryReport:
    """Push each task's entry ({"result", "score", "cluster", ...}) as its one prediction of
    ``model_version``, ``concurrency`` requests at a time, skipping entries :func:`unchanged` since
    ``previous(task)`` (the last round's entry); ``record(task, entry)`` runs for every entry after
    its previous one was read (it writes the new round). Entries are consumed one at a time.

    Raises DeliveryError (task id, HTTP status, Label Studio's message) on the first push that fails
    after the client's retries; entries after it are not pushed.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    report = DeliveryReport()
    slots = threading.BoundedSemaphore(2 * concurrency)  # entries in flight or waiting: memory stays bounded
    failures: list[Exception] = []  # appended from the pool's threads; the loop stops at the first

    def push(task: dict, entry: dict) -> None:
        try:
            client.upsert_prediction(task, entry["result"], entry["score"], model_version, entry["cluster"],
                                     project=project)
        except LabelStudioError as error:
            failures.append(DeliveryError(task["id"], error))
        except Exception as error:  # noqa: BLE001 - a future would keep it unseen; raised below
            failures.append(error)

    def finished(_: Future) -> None:
        slots.release()

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="deliver") as pool:
        try:
            for done, (task, entry) in enumerate(tasks_and_entries, start=1):
                if failures:
                    break
                before = previous(task)  # read before record() writes this frame of the new round
                if unchanged(task, entry, before, model_version):
                    report.skipped += 1
                else:
                    slots.acquire()
                    pool.submit(push, task, entry).add_done_callback(finished)
                    report.pushed += 1
                record(task, entry)
                progress(done)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    if failures:
        raise failures[0]
    logger.info("project %s: %d predictions pushed, %d unchanged", project, report.pushed, report.skipped)
    return report
