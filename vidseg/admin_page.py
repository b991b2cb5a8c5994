"""The admin page: /status as HTML for a browser, one plain page, no front-end build.

Per project and video: round, frames labelled / total, state with the running stage's progress,
last duration and error, the queue, a strip with one cell per frame and the round history.

The strip colours a frame by where its labels come from, read from the current round's stored
entries: their `sources` (share of the frame's pixels labelled by a human, carried along the flow,
decided by the network alone) name the dominant source, human, carried or network; the carried and
network colours are shaded by the frame's confidence (the fusion's mean winning vote share). A
cluster (vidseg.labelstudio.priorities) marks a frame selected for labelling next, drawn as a bar
over its source's colour. Entries of rounds before `sources` was stored fall back to the score:
1.0 is human, any other frame "predicted" (carried and network together). Entries are read one per
cell and a long video gets at most MAX_CELLS cells, each showing the frame in its middle: the page
stays cheap however long the video is. A cell shows that frame's thumbnail (vidseg.thumbnails,
served by /thumbnails/..., small, cached on disk and by the browser, loaded lazily as the strip
scrolls) framed and tinted in its source's colour; a frame whose entry names no image file (rounds
before thumbnails, or no entry) is a plain coloured cell.

History: the `history` list of status.json when the worker keeps one, else the latest round alone.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment

from vidseg.store import Store
from vidseg.thumbnails import frame_file

MAX_CELLS = 240
REFRESH_SECONDS = 10
MAX_REFRESH_SECONDS = 3600


def refresh_seconds(asked: str | None) -> int:
    """The page's reload interval from its ?refresh= query value: REFRESH_SECONDS when absent, 0 for
    a page that stays put (to read the history or compare thumbnails without it reloading under you)."""
    if asked is None:
        return REFRESH_SECONDS
    if not re.fullmatch(r"[0-9]{1,9}", asked.strip()) or int(asked) > MAX_REFRESH_SECONDS:
        raise ValueError(f"refresh must be a whole number of seconds from 0 (no reload) to {MAX_REFRESH_SECONDS}, "
                         f"not {asked[:40]!r}")
    return int(asked)


def project_ids(model_dir: Path) -> list[int]:
    """Projects the worker has written to: the numeric folders of MODEL_DIR."""
    root = Path(model_dir)
    if not root.is_dir():
        return []
    return sorted(int(path.name) for path in root.iterdir() if path.is_dir() and path.name.isdigit())


def frame_strip(store: Store, project: int, status: dict, max_cells: int = MAX_CELLS) -> list[dict]:
    """Cells of the frame strip: {"first", "last", "frame", "source", "selected", "confidence", "sources",
    "thumbnail"}; source is "human", "carried", "network", "predicted" (an older entry without sources)
    or "none" (no entry in the current round); selected is True for a frame selected for labelling
    next; thumbnail is the URL of the frame's thumbnail, None when its entry names no image file."""
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
        strip.append({"first": first, "last": last, "frame": frame, "source": source_of(entry),
                      "selected": entry is not None and entry.get("cluster") is not None,
                      "confidence": None if entry is None else entry.get("confidence"),
                      "sources": _shares(entry), "thumbnail": _thumbnail_url(project, status["video"], frame, entry)})
    return strip


SOURCES = ("human", "carried", "network")


def _thumbnail_url(project: int, video: str, frame: int, entry: dict | None) -> str | None:
    """The frame's thumbnail URL, versioned by its image file (so the browser may keep it for good)."""
    name = frame_file(entry)
    if name is None:
        return None
    return f"/thumbnails/{int(project)}/{int(frame)}/{quote(video, safe='')}?v={name[:12]}"


def source_of(entry: dict | None) -> str:
    """Where a stored entry's labels mostly come from: the largest of its `sources` shares (ties to
    the earlier of human, carried, network); without them, human for score 1.0, else "predicted"."""
    if entry is None:
        return "none"
    shares = _shares(entry)
    if shares and max(shares.values()) > 0:
        return max(SOURCES, key=lambda name: shares.get(name, 0.0))
    return "human" if float(entry.get("score") or 0.0) >= 1.0 else "predicted"


def _shares(entry: dict | None) -> dict[str, float] | None:
    sources = None if entry is None else entry.get("sources")
    if not isinstance(sources, dict):
        return None
    return {name: float(sources.get(name) or 0.0) for name in SOURCES}


def history(status: dict) -> list[dict]:
    """Rounds newest first: {"round", "finished_at", "duration_s", "frames_labelled", "selected",
    "selected_by", "weight_check"}."""
    kept = status.get("history")
    if isinstance(kept, list) and kept:
        rows = [row for row in kept if isinstance(row, dict)]
    elif status.get("round"):
        rows = [{"round": status["round"], "finished_at": status.get("last_trained_at"),
                 "duration_s": status.get("last_duration_s"), "frames_labelled": status.get("frames_labelled"),
                 "selected": status.get("selected"), "selected_by": status.get("selected_by"),
                 "weight_check": status.get("weight_check")}]
    else:
        rows = []
    return sorted(rows, key=lambda row: row.get("round") or 0, reverse=True)


def render(store: Store, answers: list[dict], refresh: int = REFRESH_SECONDS) -> str:
    """The page for /status answers ({"project", "videos": [...]}, one per project), reloading every
    `refresh` seconds (0: never)."""
    projects = [{"project": answer["project"],
                 "videos": [{**status, "strip": frame_strip(store, answer["project"], status),
                             "rounds": history(status)} for status in answer["videos"]]}
                for answer in answers]
    return _TEMPLATE.render(projects=projects, refresh=refresh)


def _when(timestamp) -> str:
    if not isinstance(timestamp, (int, float)):
        return "-"
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


HUES = {"carried": 275, "network": 140, "predicted": 140}
"""Carried violet, network alone green (as are older entries' "predicted" frames)."""


def _cell_colour(cell: dict) -> str:
    """Human blue; carried violet and network green from pale (unsure) to dark (sure); none grey."""
    if cell["source"] == "human":
        return "#2563eb"
    if cell["source"] in HUES:
        confidence = min(max(float(cell["confidence"] or 0.0), 0.0), 1.0)
        return f"hsl({HUES[cell['source']]}, 60%, {88 - 58 * confidence:.0f}%)"
    return "#d1d5db"


def _describe(cell: dict) -> str:
    shares = "" if not cell["sources"] else \
        " (" + ", ".join(f"{name} {share:.0%}" for name, share in cell["sources"].items()) + ")"
    confidence = "" if cell["confidence"] is None else f", confidence {cell['confidence']}"
    selected = ", selected for labelling next" if cell["selected"] else ""
    return f"frames {cell['first']}-{cell['last']}: {cell['source']}{shares}{confidence}{selected}"


def _selection(row: dict) -> str:
    """The round's selected sample ids (the first 12) and the strategy that chose them."""
    ids = [str(i) for i in row.get("selected") or []]
    shown = ", ".join(ids[:12]) + (", ..." if len(ids) > 12 else "")
    return f"{shown} ({row.get('selected_by') or '-'})"


def _delivery(row: dict) -> str:
    """What the round delivered where no human labelled: the network fused with the carried labels,
    or the carried labels alone, with the held-out accuracies that chose it (vidseg.engine)."""
    check = row.get("weight_check")
    if not isinstance(check, dict) or not isinstance(check.get("accuracy"), dict):
        return "-"
    accuracy = {float(weight): value for weight, value in check["accuracy"].items()}
    chosen = float(check.get("chosen") or 0.0)
    with_network = max((w for w in accuracy if w > 0), default=None)
    frames = len(check.get("frames") or [])
    shown = f"network {accuracy.get(with_network, '-')}% vs carried {accuracy.get(0.0, '-')}%"
    return f"{'network + carried' if chosen > 0 else 'carried only'} ({shown} on {frames} new " \
           f"frame{'' if frames == 1 else 's'})"


_ENV = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_ENV.filters.update(when=_when, colour=_cell_colour, describe=_describe, selection=_selection, delivery=_delivery)
_TEMPLATE = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vidseg status</title>
{% if refresh %}<meta http-equiv="refresh" content="{{ refresh }}">{% endif %}<link rel="icon" href="data:,">
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #111827; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, .last { white-space: nowrap; }
th, td { border-bottom: 1px solid #e5e7eb; padding: .3em .7em; text-align: left; vertical-align: top; }
.strip { display: flex; gap: 2px; width: 440px; overflow-x: auto; padding-bottom: 3px; }
.strip .cell { flex: 1 1 0; min-width: 4px; height: 42px; position: relative; }
.strip .thumb { flex: none; min-width: 0; height: 36px; border: 3px solid; }
.strip img { display: block; height: 36px; }
.strip .thumb::after { content: ""; position: absolute; inset: 0; background: inherit; opacity: .3; }
.strip .selected::before { content: ""; position: absolute; z-index: 1; top: -3px; left: 0; right: 0; height: 6px;
  background: #f59e0b; }
.legend .pair { margin-left: 0; }
.legend .selected { box-shadow: inset 0 5px 0 #f59e0b; }
.error { color: #b91c1c; max-width: 28em; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 .3em 0 1em; vertical-align: middle; }
details table { margin: .3em 0; } details th, details td { padding: .1em .5em; }
</style></head><body>
<h1>vidseg</h1>
<p class="legend">Frames, framed and tinted by where most of their labels come from:
<span style="background:#2563eb"></span>human
<span style="background:hsl(275,60%,82%)"></span><span class="pair" style="background:hsl(275,60%,30%)"></span>
carried along the flow<span style="background:hsl(140,60%,82%)"></span>
<span class="pair" style="background:hsl(140,60%,30%)"></span>network alone (older rounds: predicted), paler when unsure
<span class="selected" style="background:#d1d5db"></span>selected next
<span style="background:#d1d5db"></span>no prediction yet</p>
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
<td><div class="strip">{% for cell in video.strip %}<span
 class="cell {{ cell.source }}{{ ' selected' if cell.selected }}{{ ' thumb' if cell.thumbnail }}"
 data-frame="{{ cell.frame }}" title="{{ cell | describe }}"
 style="background: {{ cell | colour }}; border-color: {{ cell | colour }}">{% if cell.thumbnail
 %}<img src="{{ cell.thumbnail }}" alt="" loading="lazy">{% endif %}</span>{% endfor %}</div>
{% if video.rounds %}<details open><summary>history</summary>
<table class="history"><tr><th>round</th><th>finished</th><th>s</th><th>labelled</th><th>selected</th>
<th>delivered</th></tr>
{% for row in video.rounds %}<tr><td>{{ row.round }}</td><td>{{ row.finished_at | when }}</td>
<td>{{ row.duration_s }}</td><td>{{ row.frames_labelled }}</td><td>{{ row | selection }}</td>
<td>{{ row | delivery }}</td></tr>
{% endfor %}</table></details>{% endif %}</td></tr>
{% endfor %}</table>{% endif %}
{% else %}<p>No project yet: the worker writes here after its first round.</p>
{% endfor %}
</body></html>
""")
