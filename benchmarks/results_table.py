"""Markdown table of simulation results: % of full clicks to reach 80/90/95 label mIoU per series.

    .venv/bin/python benchmarks/results_table.py [VARIANT=]runs/camvid-frame/results.json [...]

VARIANT, when given, names the run in its own column (e.g. the code or settings it differed by).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CLICK_LEVELS = (5.0, 10.0, 15.0)


def miou_at(points: list[tuple[float, float]], clicks: float) -> float | None:
    """Label mIoU at `clicks` % of full clicks, linear between rounds (0 clicks: nothing known)."""
    points = sorted(points)
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x0 <= clicks <= x1:
            return y0 + (y1 - y0) * (clicks - x0) / (x1 - x0) if x1 > x0 else y1
    return None


def rows(arguments: list[str]) -> list[str]:
    lines = ["| series | start | variant | % clicks @80 | @90 | @95 | mIoU @5 / 10 / 15% clicks "
             "| best mIoU (at % clicks) | s/round |",
             "|---|---|---|---|---|---|---|---|---|"]
    for argument in arguments:
        variant, _, path = argument.rpartition("=")
        path = Path(path)
        results = json.loads(path.read_text())
        start = "pretrained" if results["config"].get("init_checkpoint") else "scratch"
        for series, entry in results["summary"].items():
            cells = [entry[f"clicks_pct_at_{t}"] for t in (80, 90, 95)]
            shown = [f"{c:.1f}" if c is not None else "not reached" for c in cells]
            best = max((r for r in results["rows"] if r["series"] == series), key=lambda r: r["miou"])
            seconds = entry["seconds_per_round"]
            best_text = f"{best['miou']:.1f} ({best['clicks_pct']:.1f})"
            curve = [(r["clicks_pct"], r["miou"]) for r in results["rows"] if r["series"] == series]
            levels = [miou_at(curve, level) for level in CLICK_LEVELS]
            shown.append(" / ".join(f"{v:.1f}" if v is not None else "-" for v in levels))
            lines.append(f"| {series} | {start} | {variant or '-'} | {' | '.join(shown)} | {best_text} "
                         f"| {seconds if seconds is not None else '-'} |")
    return lines


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("\n".join(rows(sys.argv[1:])))
