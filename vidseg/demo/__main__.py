"""`python -m vidseg.demo [--video clip.mp4]`: Label Studio, the backend and a project to label, until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vidseg.demo.run import DemoOptions, run_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vidseg.demo", description=__doc__)
    parser.add_argument("--video", type=Path, default=None,
                        help="a video file (anything OpenCV reads) or folder of frames (default: a generated clip)")
    parser.add_argument("--classes", default=None,
                        help="comma-separated class names (default: CamVid's for its clip, Background,Square,Disc "
                             "for the shapes clip, Background,Object for a named video)")
    parser.add_argument("--dir", type=Path, default=Path("runs/demo"),
                        help="Label Studio's database, frames, model state and logs (default: runs/demo); a second "
                             "run with the same folder and video resumes")
    parser.add_argument("--clip", choices=("auto", "camvid", "shapes"), default="auto",
                        help="the generated clip: CamVid val frames (auto: when ../shared/data/camvid/val exists) "
                             "or moving shapes")
    parser.add_argument("--frames", type=int, default=30, help="frames of the generated clip")
    parser.add_argument("--ls-port", type=int, default=8080)
    parser.add_argument("--backend-port", type=int, default=9090)
    parser.add_argument("--grace", type=float, default=10, help="seconds a running job may go on after Ctrl-C")
    args = parser.parse_args(argv)
    classes = tuple(name.strip() for name in args.classes.split(",") if name.strip()) if args.classes else None
    return run_demo(DemoOptions(directory=args.dir, video=args.video, clip=args.clip, frames=args.frames,
                                classes=classes, ls_port=args.ls_port, backend_port=args.backend_port,
                                grace=args.grace))


if __name__ == "__main__":
    sys.exit(main())
