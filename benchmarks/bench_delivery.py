"""Delivering a round's predictions to a real Label Studio 1.23.2: which way is fastest and correct.

    .venv/bin/python benchmarks/bench_delivery.py [--frames 60] [--concurrency 4,8] [--patch 4] [--only-pool]
                                                  [--url URL --token T]

Starts Label Studio from .ls-venv as the e2e tests do (or uses --url/--token), and for each
alternative creates a fresh brush project of `--frames` frame tasks, then pushes realistic 720p
brush predictions (a CamVid ground-truth map enlarged to 1280x720 with a network's ragged edges,
about 250 KB of JSON a frame), twice: round 1 creates the predictions, round 2 replaces them
with other masks. Printed per alternative and round: requests, seconds per frame, and whether
Label Studio ends with exactly one prediction per task carrying our score and cluster.

(a) sequential `upsert_prediction` (PATCH in place), one task at a time (the worker before);
(b) `deliver_predictions` with a pool of N threads (the worker now: each changed frame recreated,
    POST + DELETE, so Label Studio shows it as new, its regions noted with the round), plus a
    round 3 with nothing changed (skipped: no request);
(b') the same pool, but patching in place (`--patch 4`: how the pool worked before recreating);
(c) bulk `POST /api/projects/{id}/import/predictions`, in batches of --batch;
(d) the same after deleting each task's old prediction (one DELETE per task) so none is doubled.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from benchmarks.bench_backend import CAMVID, CONFIG  # noqa: E402

HEIGHT, WIDTH = 720, 1280
VERSION = "vidseg"


def realistic_results(n_frames: int, offset: int = 0) -> list[list[dict]]:
    """One 720p brush result per frame (~250 KB of JSON), the CamVid clip from frame `offset` on."""
    from vidseg.labelstudio.brush import label_map_to_results
    from vidseg.labelstudio.config import parse_label_config
    from vidseg.simulation.dataset import CAMVID_CLASSES, load_video

    video = load_video(CAMVID / "val", CAMVID / "valannot", ignore_index=11, class_names=CAMVID_CLASSES)
    config = parse_label_config(CONFIG)
    rng = np.random.default_rng(offset)
    results = []
    for frame in range(n_frames):
        labels = cv2.resize(video.labels[(frame + offset) % len(video.labels)].astype(np.int16), (WIDTH, HEIGHT),
                            interpolation=cv2.INTER_NEAREST)
        ragged = np.kron(rng.random((HEIGHT // 4, WIDTH // 4)) < 0.004, np.ones((4, 4), dtype=bool))
        labels = np.where(ragged, rng.integers(0, config.num_classes, labels.shape), np.maximum(labels, 0))
        results.append(label_map_to_results(labels.astype(np.int16), config))
    return results


class CountingClient:
    """Wraps LabelStudioClient.request to count requests by method (thread-safe enough: the GIL)."""

    def __init__(self, client):
        self.client, self.counts = client, {}
        original = client.request

        def request(method, path, **kwargs):
            key = f"{method} {re.sub(r'/[0-9]+/', '/{id}/', path.split('?')[0])}"
            self.counts[key] = self.counts.get(key, 0) + 1
            return original(method, path, **kwargs)

        client.request = request

    def take(self) -> dict:
        counts, self.counts = self.counts, {}
        return counts


def new_project(client, title: str, n_frames: int) -> tuple[int, list[int]]:
    project = client.create_project(title, CONFIG)["id"]
    tasks = [{"image": f"/data/local-files/?d=clip/{i:06d}.png", "video": "clip", "frame": i} for i in range(n_frames)]
    return project, client.import_tasks(project, tasks)["task_ids"]


def entries(results: list[list[dict]], round_number: int) -> list[dict]:
    return [{"result": r, "score": round(0.01 * ((f * 7 + round_number) % 50), 3), "cluster": (f + round_number) % 5}
            for f, r in enumerate(results)]


def check(client, project: int, wanted: list[dict]) -> str:
    """'ok' when every task has exactly one prediction of VERSION with the wanted score and cluster."""
    tasks = client.video_tasks(project, "clip")
    problems = []
    for task, entry in zip(tasks, wanted, strict=True):
        own = [p for p in task["predictions"] if p["model_version"] == VERSION]
        if len(own) != 1:
            problems.append(f"{len(own)} predictions")
        elif abs(own[0]["score"] - entry["score"]) > 1e-9 or own[0].get("cluster") != entry["cluster"]:
            problems.append(f"score/cluster {own[0]['score']}/{own[0].get('cluster')} != "
                            f"{entry['score']}/{entry['cluster']}")
    return "ok" if not problems else f"WRONG: {len(problems)} tasks, e.g. {problems[0]}"


def report(name: str, seconds: float, n_frames: int, counts: dict, verdict: str) -> None:
    total = sum(counts.values())
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    print(f"{name:<34} {seconds / n_frames:7.3f} s/frame {seconds:7.1f} s  {total:4d} requests ({shown})  {verdict}",
          flush=True)


def sequential(client, counter, n_frames, rounds) -> None:
    project, _ = new_project(client, "bench sequential", n_frames)
    for number, results in enumerate(rounds, start=1):
        tasks = client.video_tasks(project, "clip")
        wanted = entries(results, number)
        counter.take()
        started = time.perf_counter()
        for task, entry in zip(tasks, wanted, strict=True):
            client.upsert_prediction(task, entry["result"], entry["score"], VERSION, entry["cluster"], project=project)
        report(f"(a) sequential, round {number}", time.perf_counter() - started, n_frames, counter.take(),
               check(client, project, wanted))


def pooled(client, counter, n_frames, rounds, concurrency, patch=False) -> None:
    from vidseg.labelstudio.delivery import deliver_predictions

    if patch:  # the pool as it was: PATCH in place (created_at stays the first round's)
        client.replace_prediction, replace = client.upsert_prediction, client.replace_prediction
    project, _ = new_project(client, f"bench pool {concurrency}", n_frames)
    stored: dict[int, dict] = {}
    for number, results in enumerate([*rounds, rounds[-1]], start=1):
        tasks = client.video_tasks(project, "clip")
        wanted = entries(results, min(number, len(rounds)))
        counter.take()
        started = time.perf_counter()
        with_ids = [{**entry, "task_id": task["id"]} for task, entry in zip(tasks, wanted, strict=True)]
        done = deliver_predictions(
            client, project, VERSION, zip(tasks, with_ids, strict=True),
            previous=lambda task: stored.get(task["id"]),
            record=lambda task, entry: stored.__setitem__(task["id"], json.loads(json.dumps(entry))),
            concurrency=concurrency, round_number=number)
        label = (f"(b') pool of {concurrency}, PATCH, round {number}" if patch
                 else f"(b) pool of {concurrency}, round {number}") + (" unchanged" if number > len(rounds) else "")
        report(label, time.perf_counter() - started, n_frames, counter.take(),
               f"{check(client, project, wanted)} (pushed {done.pushed}, skipped {done.skipped})")
    if patch:
        client.replace_prediction = replace


def bulk(client, counter, n_frames, rounds, batch, delete_first=False) -> None:
    project, task_ids = new_project(client, "bench bulk", n_frames)
    for number, results in enumerate(rounds, start=1):
        wanted = entries(results, number)
        old = [p["id"] for t in client.video_tasks(project, "clip") for p in t["predictions"]] if delete_first else []
        counter.take()
        started = time.perf_counter()
        for prediction in old:
            client.request("DELETE", f"/api/predictions/{prediction}/", raw=True)
        for start in range(0, n_frames, batch):
            body = [{"task": task_ids[i], "result": wanted[i]["result"], "score": wanted[i]["score"],
                     "model_version": VERSION, "cluster": wanted[i]["cluster"]}
                    for i in range(start, min(start + batch, n_frames))]
            client.request("POST", f"/api/projects/{project}/import/predictions", json=body)
        name = "(d) DELETE + bulk import" if delete_first else f"(c) bulk import x{batch}"
        report(f"{name}, round {number}", time.perf_counter() - started, n_frames, counter.take(),
               check(client, project, wanted))


def sizes(client, results) -> None:
    """JSON bytes a frame's prediction takes, and what the browser reads for one task."""
    project, task_ids = new_project(client, "bench sizes", 1)
    body = {"task": task_ids[0], "result": results[0], "score": 0.5, "model_version": VERSION, "cluster": 1,
            "project": project}
    client.create_prediction(task_ids[0], results[0], 0.5, VERSION, 1, project=project)
    task_bytes = len(client.request("GET", f"/api/tasks/{task_ids[0]}/", raw=True).content)
    per_frame = np.mean([len(json.dumps(r)) for r in results])
    print(f"prediction JSON per frame: {per_frame / 1e3:.0f} kB on average (request body "
          f"{len(json.dumps(body)) / 1e3:.0f} kB for frame 0); GET /api/tasks/{{id}}/ with it: "
          f"{task_bytes / 1e3:.0f} kB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--concurrency", default="4,8", help="pool sizes to measure, comma separated")
    parser.add_argument("--patch", default="4", help="pool sizes to measure patching in place (b'), comma separated")
    parser.add_argument("--only-pool", action="store_true", help="measure (b) and (b') only")
    parser.add_argument("--batch", type=int, default=20, help="predictions per bulk import request")
    parser.add_argument("--url", help="a running Label Studio (default: start one from .ls-venv)")
    parser.add_argument("--token", help="its legacy API token")
    args = parser.parse_args()

    from vidseg.labelstudio.client import LabelStudioClient

    started = time.perf_counter()
    rounds = [realistic_results(args.frames, 0), realistic_results(args.frames, 37)]
    print(f"{args.frames} frames of {WIDTH}x{HEIGHT} encoded in {time.perf_counter() - started:.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if args.url:
            url, token = args.url, args.token
        else:
            from label_studio_server import free_port, start_label_studio

            server = start_label_studio(Path(tmp) / "data", free_port(), Path(tmp) / "frames")
            url, token = server.url, server.token
            print(f"Label Studio {url} started in {server.startup_seconds:.0f} s", flush=True)
        try:
            client = LabelStudioClient(url, token)
            counter = CountingClient(client)
            if not args.only_pool:
                sizes(client, rounds[0])
                sequential(client, counter, args.frames, rounds)
            for concurrency in (int(c) for c in args.concurrency.split(",") if c):
                pooled(client, counter, args.frames, rounds, concurrency)
            for concurrency in (int(c) for c in args.patch.split(",") if c):
                pooled(client, counter, args.frames, rounds, concurrency, patch=True)
            if not args.only_pool:
                bulk(client, counter, args.frames, rounds, args.batch)
                bulk(client, counter, args.frames, rounds, args.batch, delete_first=True)
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
