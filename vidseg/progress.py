"""Progress of a long command: a bar on a terminal, plain lines in a log.

    progress = Progress("frames of drive", total=1800)   # total: an estimate, or None
    for ...:
        progress.advance(skipped=already_there)           # note="loss 0.41": shown after the count
    progress.close()                                      # the last line: the final count

On a terminal (``stream.isatty()``) it is a tqdm bar; otherwise (a log file, a pipe, CI) one line
every ``interval`` seconds and one at the end, never carriage returns. ``above(log)`` wraps a
command's own log function so its lines print above the bar instead of through it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm


class Progress:
    """Counts items done (``advance``) out of ``total``; ``skipped`` ones were already done before."""

    def __init__(self, label: str, total: int | None, stream: TextIO | None = None, interval: float = 10.0,
                 unit: str = "frames"):
        self.label, self.total, self.unit, self.interval = label, total, unit, interval
        self.stream = stream if stream is not None else sys.stderr
        self.done = self.skipped = 0
        self.note = ""
        self._bar = None
        if _is_terminal(self.stream):
            self._bar = tqdm(total=total, desc=label, unit=unit.rstrip("s"), file=self.stream, dynamic_ncols=True)
        self._last_line = time.monotonic()

    def advance(self, skipped: bool = False, note: str | None = None) -> None:
        self.done += 1
        self.skipped += int(skipped)
        if note is not None:
            self.note = note
        if self._bar is not None:
            self._bar.update(1)
            if self._postfix():
                self._bar.set_postfix_str(self._postfix(), refresh=False)
        elif time.monotonic() - self._last_line >= self.interval:
            self._line()

    def rename(self, label: str) -> None:
        """A new label from here on (e.g. the series a simulation is running)."""
        self.label = label
        if self._bar is not None:
            self._bar.set_description(label)

    def set_total(self, total: int | None) -> None:
        """A better estimate of the total (e.g. a series that stopped before its last round)."""
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def above(self, log: Callable[[str], None]) -> Callable[[str], None]:
        """``log``, printing above the bar on a terminal (tqdm clears it, then draws it again)."""
        if self._bar is None:
            return log

        def write(text: str) -> None:
            with tqdm.external_write_mode(file=sys.stdout):
                log(text)
        return write

    def report(self) -> None:
        """A plain line now (e.g. at the end of a stage); on a terminal the bar already shows it."""
        if self._bar is None:
            self._line()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            self._line()

    def line(self) -> str:
        """``frames of drive: 120/1800 frames (7%), 40 already there``."""
        total = ""
        if self.total:
            total = f"/{self.total}"
        text = f"{self.label}: {self.done}{total} {self.unit}"
        if self.total:
            text += f" ({100 * self.done / self.total:.0f}%)"
        return text + (f", {self._postfix()}" if self._postfix() else "")

    def _postfix(self) -> str:
        return ", ".join(filter(None, [f"{self.skipped} already there" if self.skipped else "", self.note]))

    def _line(self) -> None:
        print(self.line(), file=self.stream, flush=True)
        self._last_line = time.monotonic()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
