"""The admin page's round history says what each round delivered: the network fused with the
carried labels, or the carried labels alone, and the held-out accuracies that chose it."""

from vidseg import admin_page
from vidseg.store import Store


def _rows(html: str) -> list[str]:
    table = html.split('<table class="history">', 1)[1].split("</table>", 1)[0]
    return table.split("<tr>")[2:]  # the header row first


def test_each_round_shows_what_it_delivered_and_why(tmp_path):
    checked = {"frames": [12, 40], "chosen": 0.0, "accuracy": {"0.1": 91.25, "0.0": 93.5}}
    status = {"video": "clip", "round": 3, "history": [
        {"round": 1, "finished_at": 1.0, "duration_s": 5, "frames_labelled": 0, "selected": [3],
         "selected_by": "cold_start"},
        {"round": 2, "finished_at": 2.0, "duration_s": 9, "frames_labelled": 2, "selected": [7], "selected_by": "hvsa",
         "weight_check": {"frames": [3], "chosen": 0.1, "accuracy": {"0.1": 95.0, "0.0": 94.0}}},
        {"round": 3, "finished_at": 3.0, "duration_s": 9, "frames_labelled": 4, "selected": [9], "selected_by": "hvsa",
         "weight_check": checked},
    ]}
    html = admin_page.render(Store(tmp_path), [{"project": 1, "videos": [status]}])
    newest, middle, oldest = _rows(html)
    assert "carried only (network 91.25% vs carried 93.5% on 2 new frames)" in newest
    assert "network + carried (network 95.0% vs carried 94.0% on 1 new frame)" in middle
    assert oldest.rstrip().endswith("<td>-</td></tr>")


def test_a_status_without_history_shows_its_latest_check():
    status = {"round": 2, "weight_check": {"frames": [5], "chosen": 0.0, "accuracy": {"0.1": 80.0, "0.0": 85.0}}}
    (row,) = admin_page.history(status)
    assert row["weight_check"]["chosen"] == 0.0


def test_the_last_round_shows_its_duration_and_error_escaped(tmp_path):
    status = {"video": "clip", "round": 2, "state": "failed", "last_duration_s": 41.5, "last_trained_at": 0.0,
              "last_error": "frame 7: <mask> has 3 classes, the label config 2"}
    html = admin_page.render(Store(tmp_path), [{"project": 1, "videos": [status]}])
    last = html.split('<td class="last">', 1)[1].split("</td>", 1)[0]
    assert '<span class="duration">41.5</span> s' in last
    assert "1970-01-01 00:00:00 UTC" in last
    assert '<div class="error">frame 7: &lt;mask&gt; has 3 classes, the label config 2</div>' in last


def test_a_video_that_never_finished_a_round_shows_a_dash():
    html = admin_page.render(Store("/nonexistent"), [{"project": 1, "videos": [{"video": "clip", "round": 0}]}])
    last = html.split('<td class="last">', 1)[1].split("</td>", 1)[0]
    assert last.strip() == "-"
