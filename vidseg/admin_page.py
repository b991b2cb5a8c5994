"""The admin page: /status as HTML for a browser, one plain page, no front-end build.

Per project and video: round, frames labelled / total, state with the running stage's progress,
last duration and error, the queue, a strip with one cell per frame and the round history.

The strip colours a frame by where its labels come from, read from the current round's stored
entries (vidseg.labelstudio.priorities): score 1.0 is a frame with human labels; a cluster marks
a frame selected for labelling next; every other frame is predicted, shaded by its confidence
(the fusion's mean winning vote share). The store keeps no per-frame split between labels carried
along the flow and the network's, so "predicted" covers both. Entries are read one per cell and
a long video gets at most MAX_CELLS cells, each showing the frame in its middle: the page stays
cheap however long the video is.

History: the `history` list of status.json when the worker keeps one, else the latest round alone.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from jinja2 import Environment

from vidseg.store import Store

MAX_CELLS = 240
REFRESH_SECONDS = 10


def project_ids(model_dir: Path) -> list[int]:
    """Projects the worker has written to: the numeric folders of MODEL_DIR."""
    root = Path(model_dir)
    if not root.is_dir():
        return []
    return sorted(int(path.name) for path in root.iterdir() if path.is_dir() and path.name.isdigit())


def frame_strip(store: Store, project: int, status: dict, max_cells: int = MAX_CELLS) -> list[dict]:
    """Cells of the frame strip: {"first", "last", "frame", "source", "confidence"}; source is
    "human", "selected", "predicted" or "none" (no entry in the current round)."""
    n_frames = int(status.get("frames") or 0)
    if n_frames <= 0:
        return []
    cells = min(n_frames, max_cells)
    bounds = [(cell * n_frames // cells, (cell + 1) * n_frames // cells - 1) for cell in range(cells)]
    shown = [(first + last) // 2 for first, last in bounds]
    entries = store.video(project, status["video"]).prediction_parts(shown)
    strip = []
    for (first, last), frame, found in zip(bounds, shown, entries, strict=True):
        entry = found[0] if found else None
        strip.append({"first": first, "last": last, "frame": frame, "source": _source(entry),
                      "confidence": None if entry is None else entry.get("confidence")})
    return strip


def _source(entry: dict | None) -> str:
    if entry is None:
        return "none"
    if float(entry.get("score") or 0.0) >= 1.0:
        return "human"
    return "selected" if entry.get("cluster") is not None else "predicted"


def history(status: dict) -> list[dict]:
    """Rounds newest first: {"round", "finished_at", "duration_s", "frames_labelled", "selected",
    "selected_by"}."""
    kept = status.get("history")
    if isinstance(kept, list) and kept:
        rows = [row for row in kept if isinstance(row, dict)]
    elif status.get("round"):
        rows = [{"round": status["round"], "finished_at": status.get("last_trained_at"),
                 "duration_s": status.get("last_duration_s"), "frames_labelled": status.get("frames_labelled"),
                 "selected": status.get("selected"), "selected_by": status.get("selected_by")}]
    else:
        rows = []
    return sorted(rows, key=lambda row: row.get("round") or 0, reverse=True)


def render(store: Store, answers: list[dict]) -> str:
    """The page for /status answers ({"project", "videos": [...]}, one per project)."""
    projects = [{"project": answer["project"],
                 "videos": [{**status, "strip": frame_strip(store, answer["project"], status),
                             "rounds": history(status)} for status in answer["videos"]]}
                for answer in answers]
    return _TEMPLATE.render(projects=projects, refresh=REFRESH_SECONDS)


def _when(timestamp) -> str:
    if not isinstance(timestamp, (int, float)):
        return "-"
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cell_colour(cell: dict) -> str:
    """Human blue, selected orange, predicted green from pale (unsure) to dark (sure), none grey."""
    if cell["source"] == "human":
        return "#2563eb"
    if cell["source"] == "selected":
        return "#f59e0b"
    if cell["source"] == "predicted":
        confidence = min(max(float(cell["confidence"] or 0.0), 0.0), 1.0)
        return f"hsl(140, 60%, {88 - 58 * confidence:.0f}%)"
    return "#d1d5db"


def _describe(cell: dict) -> str:
    confidence = "" if cell["confidence"] is None else f", confidence {cell['confidence']}"
    return f"frames {cell['first']}-{cell['last']}: {cell['source']}{confidence}"


def _selection(row: dict) -> str:
    """The round's selected sample ids (the first 12) and the strategy that chose them."""
    ids = [str(i) for i in row.get("selected") or []]
    shown = ", ".join(ids[:12]) + (", ..." if len(ids) > 12 else "")
    return f"{shown} ({row.get('selected_by') or '-'})"


_ENV = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_ENV.filters.update(when=_when, colour=_cell_colour, describe=_describe, selection=_selection)
_TEMPLATE = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vidseg status</title>
<meta http-equiv="refresh" content="{{ refresh }}"><link rel="icon" href="data:,">
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #111827; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, .last { white-space: nowrap; }
th, td { border-bottom: 1px solid #e5e7eb; padding: .3em .7em; text-align: left; vertical-align: top; }
.strip { display: flex; gap: 1px; width: 400px; height: 22px; }
.strip span { flex: 1; }
.error { color: #b91c1c; max-width: 28em; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 .3em 0 1em; vertical-align: middle; }
details table { margin: .3em 0; } details th, details td { padding: .1em .5em; }
</style></head><body>
<h1>vidseg</h1>
<p class="legend">Frames:<span style="background:#2563eb"></span>human labels
<span style="background:#f59e0b"></span>selected for labelling next
<span style="background:hsl(140,60%,82%)"></span><span style="background:hsl(140,60%,30%)"></span>predicted,
pale to dark by confidence <span style="background:#d1d5db"></span>no prediction yet</p>
{% for project in projects %}
<h2>Project {{ project.project }}</h2>
{% if not project.videos %}<p>No video has been queued yet.</p>{% else %}
<table class="videos"><tr><th>video</th><th>round</th><th>labelled / frames</th><th>state</th>
<th>last round</th><th>frames</th></tr>
{% for video in project.videos %}
<tr class="video" data-project="{{ project.project }}" data-video="{{ video.video }}">
<td class="name">{{ video.video }}</td>
<td class="round">{{ video.round or 0 }}</td>
<td><span class="labelled">{{ video.frames_labelled or 0 }}</span> /
<span class="frames">{{ video.frames or 0 }}</span></td>
<td><span class="state">{{ video.state or "not started" }}</span>{% if video.progress
%}: <span class="stage">{{ video.progress.stage }}</span><br>
<progress value="{{ video.progress.done }}" max="{{ video.progress.total }}"></progress>
<span class="progress">{{ video.progress.done }}/{{ video.progress.total }}</span>{% endif %}
{% if video.queue and video.queue.error %}<br>queue unknown: {{ video.queue.error }}
{% elif video.queue and video.queue.pending %}<br>follow-up queued{% endif %}</td>
<td class="last">{% if video.last_duration_s is number %}<span class="duration">{{ video.last_duration_s }}</span> s
<br>{{ video.last_trained_at | when }}{% else %}-{% endif %}
{% if video.last_error %}<div class="error">{{ video.last_error }}</div>{% endif %}</td>
<td><div class="strip">{% for cell in video.strip %}<span class="cell {{ cell.source }}" data-frame="{{ cell.frame }}"
 title="{{ cell | describe }}"
 style="background: {{ cell | colour }}"></span>{% endfor %}</div>
{% if video.rounds %}<details open><summary>history</summary>
<table class="history"><tr><th>round</th><th>finished</th><th>s</th><th>labelled</th><th>selected</th></tr>
{% for row in video.rounds %}<tr><td>{{ row.round }}</td><td>{{ row.finished_at | when }}</td>
<td>{{ row.duration_s }}</td><td>{{ row.frames_labelled }}</td><td>{{ row | selection }}</td></tr>
{% endfor %}</table></details>{% endif %}</td></tr>
{% endfor %}</table>{% endif %}
{% else %}<p>No project yet: the worker writes here after its first round.</p>
{% endfor %}
</body></html>
""")
