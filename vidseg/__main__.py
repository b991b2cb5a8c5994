"""`python -m vidseg COMMAND`: serve (web + worker + private Redis), worker, connect, import-video, export."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from vidseg.processes import stop_all


def serve(args) -> int:
    """Web and worker together; a private Redis when REDIS_URL is unset."""
    from vidseg.settings import Settings

    settings = Settings.from_env()
    env = dict(os.environ, MODEL_DIR=str(settings.model_dir.resolve()))
    private = None
    if not settings.redis_url:
        from vidseg.redis_server import start_private_redis

        private = start_private_redis(settings.model_dir / "redis")
        env["REDIS_URL"] = private.url
        print(f"[vidseg] REDIS_URL unset: started a private Redis at {private.url} (data in "
              f"{settings.model_dir / 'redis'})", flush=True)
    root = Path(__file__).resolve().parent.parent
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"{args.host}:{args.port}", "--workers", str(args.web_workers),
         "--threads", str(args.web_threads), "--timeout", "120", "--graceful-timeout", "30", "--chdir", str(root),
         "--config", "python:vidseg.gunicorn_config", "_wsgi:app"],  # multiprocess /metrics, app logs
        env=env,
    )
    workers = [subprocess.Popen([sys.executable, "-m", "vidseg", "worker"], env=env) for _ in range(args.workers)]
    print(f"[vidseg] backend on http://{args.host}:{args.port} with {args.workers} worker(s); model state in "
          f"{settings.model_dir.resolve()}", flush=True)
    print(f"[vidseg] in Label Studio: Project > Settings > Model > Connect Model, URL "
          f"http://<this host>:{args.port} (or run `python -m vidseg connect`)", flush=True)
    if not settings.label_studio_url or not settings.label_studio_api_key:
        print("[vidseg] LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY are unset: the worker cannot read annotations "
              "or push predictions until you set them", flush=True)
    children = [web, *workers]
    stopping = []

    def stop(signum, _frame):
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    exited = None
    try:
        while not stopping and exited is None:
            time.sleep(0.5)
            exited = next((child for child in children if child.poll() is not None), None)
    finally:
        stop_all(children, args.grace)
        if private is not None:
            private.stop()
    if exited is not None:  # a child died on its own: fail, so a supervisor restarts the whole backend
        print(f"[vidseg] stopping: {' '.join(map(str, exited.args))} exited with {exited.returncode}",
              file=sys.stderr, flush=True)
        return 1
    return 0


def worker(args) -> int:
    """An RQ worker. The parent process never touches CUDA: each job runs in a forked work horse."""
    from redis import Redis
    from rq import Queue, Worker

    from vidseg.settings import Settings

    settings = Settings.from_env()
    if not settings.redis_url:
        print("error: REDIS_URL is not set: point it at the Redis the web app uses", file=sys.stderr)
        return 2
    # Import the jobs' code (torch, the network library: about 5 s) once, here: each job's work horse
    # is forked from this process and starts its round at once. Importing neither initialises CUDA nor
    # starts torch's thread pool, so the fork stays safe.
    import vidseg.jobs.retrain  # noqa: F401
    import vidseg.jobs.scan  # noqa: F401

    connection = Redis.from_url(settings.redis_url)
    queue = Queue(settings.queue_name, connection=connection)
    Worker([queue], connection=connection).work(with_scheduler=True, burst=args.burst)
    return 0


def _admin_client():
    from vidseg.labelstudio.client import LabelStudioError, client_from_settings
    from vidseg.settings import Settings

    settings = Settings.from_env()
    try:
        return client_from_settings(settings), settings
    except LabelStudioError as error:
        raise SystemExit(str(error)) from None


def connect_command(args) -> int:
    from vidseg.admin import connect

    client, settings = _admin_client()
    connect(client, settings, args.project, args.backend_url, title=args.title)
    return 0


def import_video_command(args) -> int:
    from vidseg.admin import import_video
    from vidseg.frame_plan import ImportOptionError, import_options

    try:  # every option is checked before Label Studio is asked anything
        options = import_options(every=args.every, fps=args.fps, image_format=args.format, quality=args.quality,
                                 resize=args.resize, split_every=args.split_every)
    except ImportOptionError as error:
        raise SystemExit(f"import-video: {error}") from None
    root = args.document_root or os.environ.get("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT")
    if not root:
        raise SystemExit("give --document-root (Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)")
    from vidseg.labelstudio.client import LabelStudioError

    client, settings = _admin_client()
    try:
        import_video(client, settings, args.project, Path(args.source), args.video or Path(args.source).stem,
                     Path(root), options=options)
    except LabelStudioError as error:
        raise SystemExit(f"import-video: {error} (frames written so far are kept: run the same command again "
                         "to resume)") from None
    return 0


def export_command(args) -> int:
    from vidseg.export import export_command as run_export

    return run_export(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vidseg", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="web app, RQ worker(s) and (if REDIS_URL is unset) a private Redis")
    run.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "9090")))
    run.add_argument("--workers", type=int, default=1, help="RQ workers")
    run.add_argument("--web-workers", type=int, default=4, help="gunicorn processes")
    run.add_argument("--web-threads", type=int, default=2, help="threads per gunicorn process (1: sync workers)")
    run.add_argument("--grace", type=float, default=600, help="seconds to let a running job finish on stop")
    run.set_defaults(func=serve)
    work = commands.add_parser("worker", help="one RQ worker on REDIS_URL")
    work.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    work.set_defaults(func=worker)
    link = commands.add_parser("connect", help="connect a Label Studio project to this backend and check it")
    link.add_argument("--project", type=int, required=True, help="Label Studio project id")
    link.add_argument("--backend-url", default=os.environ.get("BACKEND_URL", "http://localhost:9090"),
                      help="URL at which Label Studio reaches this backend")
    link.add_argument("--title", default="vidseg")
    link.set_defaults(func=connect_command)
    imp = commands.add_parser("import-video", help="a video file or folder of frames becomes frame tasks")
    imp.add_argument("source", help="video file (anything OpenCV reads) or folder of frames")
    imp.add_argument("--project", type=int, required=True)
    imp.add_argument("--video", default=None, help="video id (default: the source's name)")
    imp.add_argument("--every", default=None, metavar="N", help="keep every Nth frame (default: every frame)")
    imp.add_argument("--fps", default=None, metavar="R",
                     help="keep R frames per second of video time (not with --every)")
    imp.add_argument("--format", default="png", metavar="png|jpg|webp", help="frame image format (default: png)")
    imp.add_argument("--quality", default=None, metavar="Q",
                     help="1-100 for jpg (default 95) and webp (default 90)")
    imp.add_argument("--resize", default=None, help="WIDTHxHEIGHT to resize frames to")
    imp.add_argument("--split-every", default=None, metavar="LENGTH",
                     help="split into parts <video>-part001, ... of LENGTH: 600 or 600s (seconds), 10m, 1h, 9000f "
                          "(source frames)")
    imp.add_argument("--document-root", default=None,
                     help="Label Studio's local files document root (default: $LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)")
    imp.set_defaults(func=import_video_command)
    out = commands.add_parser("export", help="labels of a project's videos as index/colour PNGs with provenance")
    out.add_argument("--project", type=int, required=True)
    out.add_argument("--video", default=None, help="one video id (default: every video in MODEL_DIR's store)")
    out.add_argument("--out", required=True, help="output folder (one subfolder per video)")
    out.add_argument("--label-config", default=None, help="label config XML file, when Label Studio is not set")
    out.set_defaults(func=export_command)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
