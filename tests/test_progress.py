"""The progress helper's plain lines (a log) and its bar (a terminal), with a real tqdm."""

from __future__ import annotations

import io

from vidseg.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_carry_the_label_total_and_note_as_they_change():
    stream = io.StringIO()
    progress = Progress("series 1/2 hvsa/frame", total=6, stream=stream, interval=3600, unit="rounds")
    progress.advance(note="mIoU 41.0")
    progress.set_total(4)  # the series stopped early: its rounds left come off the total
    progress.report()
    progress.rename("series 2/2 uniform/frame")
    progress.advance(note="mIoU 52.5")
    progress.close()
    assert stream.getvalue().splitlines() == [
        "series 1/2 hvsa/frame: 1/4 rounds (25%), mIoU 41.0",
        "series 2/2 uniform/frame: 2/4 rounds (50%), mIoU 52.5",
    ]


def test_on_a_terminal_a_bar_and_log_lines_above_it():
    terminal, said = Terminal(), []
    progress = Progress("pretrain", total=3, stream=terminal, unit="steps")
    log = progress.above(said.append)
    progress.advance(note="loss 0.500")
    log("a line of the command's own")
    progress.report()  # the bar shows it already: no extra line
    progress.close()
    assert said == ["a line of the command's own"]
    assert "pretrain" in terminal.getvalue() and "loss 0.500" in terminal.getvalue() and "\r" in terminal.getvalue()
    assert "pretrain: 1/3" not in terminal.getvalue()
    plain = Progress("pretrain", total=3, stream=io.StringIO())
    assert plain.above(print) is print  # a log: lines as they are
