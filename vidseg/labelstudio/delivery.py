"""Delivering a round's predictions to Label Studio: concurrent, bounded, fresh, and only what changed.

Every frame task keeps exactly one prediction of the project's ``model_version``, with ``score`` and
``cluster`` (uncertainty sampling reads both). A changed frame's prediction is recreated, not patched:
one POST, then one DELETE of the old one. Label Studio's labelling interface shows a prediction as
"<model_version> · <created_at, as an age>", and a PATCH keeps ``created_at``, so a prediction
refreshed a minute ago would read as old as the first round. Each delivered region also carries
``meta.text`` naming the round ("vidseg round 3, delivered 2025-06-01 12:34 UTC"), which the
interface shows in the details of a selected region. Label Studio's bulk ``import/predictions``
cannot replace a prediction: it drops ``cluster`` and adds a second prediction on every import
(measured in benchmarks/bench_delivery.py, see the README).

So the round's entries stream through a small thread pool (``concurrency`` requests in flight, at
most twice that many entries waiting), and an entry equal to the one the previous round delivered
to the same task sends nothing at all.

    report = deliver_predictions(client, project, "vidseg", zip(tasks, entries), round_number=3,
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
from datetime import UTC, datetime

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
    """What one delivery did: predictions sent (recreated: one POST, plus a DELETE of the old one) and
    frames left as they were."""

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


def round_note(model_version: str, round_number: int | None, when: datetime) -> str:
    """The text each delivered region shows in Label Studio's region details: which round made it, and when."""
    made = model_version if round_number is None else f"{model_version} round {round_number}"
    return f"{made}, delivered {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def with_note(result: list[dict], note: str) -> list[dict]:
    """``result`` with ``note`` as every region's ``meta.text`` (other meta kept); relations unchanged.
    Only what is sent carries it: the store keeps the plain result, so comparing rounds ignores it."""
    return [region if region.get("type") == "relation" else {**region, "meta": {**(region.get("meta") or {}),
                                                                                 "text": [note]}}
            for region in result]


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
    round_number: int | None = None,
) -> DeliveryReport:
    """Push each task's entry ({"result", "score", "cluster", ...}) as its one prediction of
    ``model_version`` (recreated, so Label Studio shows it as new; its regions noted with
    :func:`round_note`), ``concurrency`` tasks at a time, skipping entries :func:`unchanged` since
    ``previous(task)`` (the last round's entry): those keep the prediction, time and note of the round
    that last changed them. ``record(task, entry)`` runs for every entry, unnoted, after its previous
    one was read (it writes the new round). Entries are consumed one at a time.

    Raises DeliveryError (task id, HTTP status, Label Studio's message) on the first push that fails
    after the client's retries; entries after it are not pushed.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    report = DeliveryReport()
    slots = threading.BoundedSemaphore(2 * concurrency)  # entries in flight or waiting: memory stays bounded
    failures: list[Exception] = []  # appended from the pool's threads; the loop stops at the first
    note = round_note(model_version, round_number, datetime.now(UTC))

    def push(task: dict, entry: dict) -> None:
        try:
            client.replace_prediction(task, with_note(entry["result"], note), entry["score"], model_version,
                                      entry["cluster"], project=project)
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
