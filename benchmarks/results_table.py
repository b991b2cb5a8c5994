"""Markdown table of simulation results: % of full clicks to reach 80/90/95 label mIoU per series.

    .venv/bin/python benchmarks/results_table.py runs/camvid-frame/results.json [more results.json ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rows(paths: list[Path]) -> list[str]:
    lines = ["| series | start | % clicks @80 | @90 | @95 | best mIoU (at % clicks) | s/round |",
             "|---|---|---|---|---|---|---|"]
    for path in paths:
        results = json.loads(path.read_text())
        start = "pretrained" if results["config"].get("init_checkpoint") else "scratch"
        for series, entry in results["summary"].items():
            cells = [entry[f"clicks_pct_at_{t}"] for t in (80, 90, 95)]
            shown = [f"{c:.1f}" if c is not None else "not reached" for c in cells]
            best = max((r for r in results["rows"] if r["series"] == series), key=lambda r: r["miou"])
            seconds = entry["seconds_per_round"]
            lines.append(f"| {series} | {start} | {' | '.join(shown)} | {best['miou']:.1f} ({best['clicks_pct']:.1f}) "
                         f"| {seconds if seconds is not None else '-'} |")
    return lines


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("\n".join(rows([Path(p) for p in sys.argv[1:]])))
