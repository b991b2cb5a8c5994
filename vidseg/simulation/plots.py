"""The headline figure of a simulation: label mIoU against the share of full manual clicks."""

from __future__ import annotations

from pathlib import Path

# Figure + the Agg canvas directly, not pyplot: no global backend state, safe in worker threads.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

TARGET_LINES = (80.0, 90.0, 95.0)


def _series_name(row: dict) -> str:
    if "series" in row:
        return str(row["series"])
    return f"{row.get('strategy', '?')}/{row.get('granularity', '?')}"


def plot_quality_vs_clicks(rows: list[dict], path) -> Path:
    """Write a PNG: one line per series, label mIoU (%) on y against % of full clicks on x.

    ``rows``: dicts with ``series`` (e.g. "hvsa/frame"; else built from ``strategy`` and
    ``granularity``), ``clicks_pct`` and ``miou`` (both in %). Dotted lines mark 80/90/95% mIoU.
    Returns the path written; its folder is created if missing.
    """
    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        series.setdefault(_series_name(row), []).append((float(row["clicks_pct"]), float(row["miou"])))
    figure = Figure(figsize=(7.5, 5.0), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, points in series.items():
        points.sort()
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=name)
    for target in TARGET_LINES:
        axes.axhline(target, linestyle=":", color="grey", linewidth=1)
        axes.annotate(f"{target:g}%", (1.0, target), xycoords=("axes fraction", "data"),
                      xytext=(2, 0), textcoords="offset points", va="center", fontsize=8, color="grey")
    axes.set_xlabel("clicks (% of full manual annotation)")
    axes.set_ylabel("label mIoU (%)")
    axes.set_title("Label quality against annotation clicks")
    axes.grid(True, alpha=0.3)
    if series:
        axes.legend(fontsize=8, loc="lower right")
    else:
        axes.text(0.5, 0.5, "no results yet", transform=axes.transAxes, ha="center", color="grey")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", bbox_inches="tight")
    return path
