"""A tiny end-to-end simulation run and the CLI's answers to bad input."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from vidseg.simulation.cli import main


def _write_video(root, n_frames=6, height=48, width=64):
    frames_dir, labels_dir = root / "frames", root / "labels"
    frames_dir.mkdir()
    labels_dir.mkdir()
    rng = np.random.default_rng(0)
    background = rng.integers(40, 90, (height, width, 3), dtype=np.uint8)
    for t in range(n_frames):
        frame = background.copy()
        label = np.zeros((height, width), np.uint8)
        x0 = 6 + 3 * t
        frame[12:30, x0:x0 + 18] = (220, 40, 40)
        label[12:30, x0:x0 + 18] = 1
        label[:, :3] = 5  # void column
        cv2.imwrite(str(frames_dir / f"{t:03d}.png"), frame)
        cv2.imwrite(str(labels_dir / f"{t:03d}.png"), label)
    return frames_dir, labels_dir


def test_a_tiny_run_writes_results_for_every_series(tmp_path, capsys):
    frames, labels = _write_video(tmp_path)
    out = tmp_path / "run"
    code = main(["run", "--frames", str(frames), "--labels", str(labels), "--ignore-index", "5", "--classes", "2",
                 "--out", str(out), "--strategies", "hvsa,uniform,warp", "--granularities", "frame,rectangle",
                 "--budget", "frame=1", "--budget", "rectangle=6", "--rounds", "2", "--steps", "8",
                 "--height", "32", "--width", "64", "--max-clicks", "100", "--target", "99.9"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    results = json.loads((out / "results.json").read_text())
    series = {row["series"] for row in results["rows"]}
    assert series == {f"{s}/{g}" for s in ("hvsa", "uniform", "warp") for g in ("frame", "rectangle")}
    for row in results["rows"]:
        assert 0 < row["clicks"] and 0 <= row["miou"] <= 100 and row["seconds"] >= 0
    frame_rows = [r for r in results["rows"] if r["series"] == "uniform/frame"]
    assert [r["samples"] for r in frame_rows] == [1, 2]
    assert frame_rows[1]["clicks"] > frame_rows[0]["clicks"]
    assert results["full_clicks"] > frame_rows[-1]["clicks"]
    # The second round checks the network on the frame revealed since it trained, the first has nothing to check.
    first, second = (r for r in results["rows"] if r["series"] == "hvsa/frame")
    assert "weight_check" not in first and len(second["weight_check"]["frames"]) == 1
    assert second["weight_check"]["chosen"] in (0.0, results["config"]["round"]["fusion"]["network_weight"])
    assert not any("weight_check" in r for r in results["rows"] if r["strategy"] == "warp")
    assert (out / "results.csv").read_text().startswith("series,")
    assert (out / "quality_vs_clicks.png").stat().st_size > 0
    assert "hvsa/frame" in captured.out
    # Not a terminal: a plain progress line at the end of each series, its total the rounds still possible.
    progress = [line for line in captured.err.splitlines() if line.startswith("series ")]
    assert progress[0].startswith("series 1/6 hvsa/frame: 2/12 rounds (17%), mIoU ")
    assert progress[-1].startswith("series 6/6 warp/rectangle: 12/12 rounds (100%)") and len(progress) == 6


@pytest.mark.parametrize("extra, fragment", [
    (["--budget", "frame=0"], "GRANULARITY=N with N >= 1"),
    (["--strategies", "best"], "'best' is not one of"),
    (["--rounds", "0"], "must be greater than 0"),
])
def test_bad_arguments_are_refused_with_a_message(tmp_path, capsys, extra, fragment):
    frames, labels = _write_video(tmp_path, n_frames=2)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--frames", str(frames), "--labels", str(labels), "--out", str(tmp_path / "o"), *extra])
    assert exit_info.value.code == 2
    assert fragment in capsys.readouterr().err


def test_missing_label_folder_is_a_clear_error(tmp_path, capsys):
    frames, _ = _write_video(tmp_path, n_frames=2)
    code = main(["run", "--frames", str(frames), "--labels", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nope" in err


def test_pretrain_then_run_from_the_checkpoint(tmp_path, capsys):
    from propagation import load_checkpoint

    frames, labels = _write_video(tmp_path)
    checkpoint = tmp_path / "base.pt"
    common = ["--frames", str(frames), "--labels", str(labels), "--ignore-index", "5", "--classes", "2",
              "--height", "32", "--width", "64", "--steps", "4"]
    assert main(["pretrain", *common, "--out", str(checkpoint)]) == 0
    assert "pretrain: 4/4 steps (100%), loss " in capsys.readouterr().err  # the progress line in a log
    _, spec, extra = load_checkpoint(checkpoint)
    assert spec.classes == ("class 0", "class 1") and extra["steps"] == 4
    out = tmp_path / "run"
    assert main(["run", *common, "--out", str(out), "--init", str(checkpoint), "--strategies", "hvsa",
                 "--budget", "frame=1", "--rounds", "1", "--max-clicks", "100"]) == 0
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["round"] for r in rows] == [0, 1]  # round 0: the pretrained network before any click
    assert rows[0]["clicks"] == 0 and rows[1]["selected_by"] == "hvsa"  # a prediction exists: no cold start
