"""Markdown tables of simulation results: label mIoU at 5/10/15/20% of the clicks from scratch (the
paper's cost), mIoU and % of the clicks correcting the delivered labels at each round, and the
per-class IoU of each series' last round.

    .venv/bin/python benchmarks/results_table.py [VIDEO=]runs/camvid-frame/results.json [...]

VIDEO, when given, names the run in its own column (e.g. the video or settings it differed by).
mIoU at a click level is read off the series' curve, linear between rounds ("-" outside it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CLICK_LEVELS = (5.0, 10.0, 15.0, 20.0)
COSTS = (("clicks_pct", "from scratch"), ("correction_pct", "correcting"))


def miou_at(points: list[tuple[float, float]], clicks: float) -> float | None:
    """Label mIoU at `clicks` % of full clicks, linear between rounds."""
    points = sorted(points)
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x0 <= clicks <= x1:
            return y0 + (y1 - y0) * (clicks - x0) / (x1 - x0) if x1 > x0 else y1
    if points and abs(points[-1][0] - clicks) < 0.5:  # the last round landed just short of the level
        return points[-1][1]
    return None


def _load(arguments: list[str]):
    for argument in arguments:
        video, _, path = argument.rpartition("=")
        results = json.loads(Path(path).read_text())
        for series in results["summary"]:
            yield video or "-", series, results, [r for r in results["rows"] if r["series"] == series]


def quality_rows(arguments: list[str]) -> list[str]:
    levels = " / ".join(f"{level:g}" for level in CLICK_LEVELS)
    lines = [f"| video | series | mIoU @ {levels}% clicks, from scratch | correcting: mIoU (% clicks) per round "
             "| % clicks to 90, from scratch / correcting | best mIoU (% clicks) | s/round |",
             "|---|---|---|---|---|---|---|"]
    for video, series, results, rows in _load(arguments):
        curve = [(r["clicks_pct"], r["miou"]) for r in rows]
        at_levels = (miou_at(curve, level) for level in CLICK_LEVELS)
        correcting = [f"{r['miou']:.1f} ({r['correction_pct']:.1f})" for r in rows if "correction_pct" in r]
        cells = [" / ".join(f"{v:.1f}" if v is not None else "-" for v in at_levels), ", ".join(correcting) or "-"]
        entry = results["summary"][series]
        to_90 = " / ".join(f"{entry.get(f'{key}_at_90'):.1f}" if entry.get(f"{key}_at_90") is not None else "-"
                           for key, _ in COSTS)
        best = max(rows, key=lambda r: r["miou"])
        lines.append(f"| {video} | {series} | {cells[0]} | {cells[1]} | {to_90} | {best['miou']:.1f} "
                     f"({best['clicks_pct']:.1f}) | {entry['seconds_per_round']} |")
    return lines


def per_class_rows(arguments: list[str]) -> list[str]:
    lines, header = [], None
    for video, series, _, rows in _load(arguments):
        last = rows[-1]
        classes = last.get("per_class_iou") or {}
        if header is None:
            header = list(classes)
            lines += [f"| video | series | % clicks | {' | '.join(header)} |", "|---|---|---|" + "---|" * len(header)]
        cells = " | ".join("-" if classes.get(name) is None else f"{classes[name]:.0f}" for name in header)
        lines.append(f"| {video} | {series} | {last['clicks_pct']:.1f} | {cells} |")
    return lines


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("\n".join(quality_rows(sys.argv[1:])))
    print()
    print("\n".join(per_class_rows(sys.argv[1:])))
