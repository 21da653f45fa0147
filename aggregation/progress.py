"""A terminal progress bar for long fits (stderr; redraws in place on a TTY)."""

import sys
import time
from typing import TextIO


class TerminalProgress:
    """Callable as ``progress(phase, fraction)``, the engine's ProgressCallback.

    On a terminal each phase has one line, redrawn in place and ended at 100 %; in a log
    file each phase writes a line when it starts and one when it ends.
    """

    WIDTH = 30

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.started = time.monotonic()
        self.phase: str | None = None
        self.percent = -1
        self.line_open = False  # a TTY line was drawn and not yet ended

    def __call__(self, phase: str, fraction: float) -> None:
        percent = int(round(100 * min(max(fraction, 0.0), 1.0)))
        new_phase = phase != self.phase
        if not new_phase and percent == self.percent:
            return
        if not self.interactive and not new_phase and percent != 100:
            self.phase, self.percent = phase, percent  # remembered for the phase's last line
            return
        if not self.interactive and new_phase and self.phase and self.percent not in (-1, 100):
            self.stream.write(self._line() + "\n")  # where the phase that just ended stopped
        self.phase, self.percent = phase, percent
        if self.interactive:
            self._draw(new_phase)
        else:
            self.stream.write(self._line() + "\n")
        self.stream.flush()

    def _draw(self, new_phase: bool) -> None:
        if new_phase and self.line_open:
            self.stream.write("\n")  # leave the unfinished phase's bar where it stopped
        self.stream.write("\r" + self._line())
        self.line_open = self.percent < 100
        if not self.line_open:
            self.stream.write("\n")

    def _line(self) -> str:
        filled = self.WIDTH * self.percent // 100
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        elapsed = time.monotonic() - self.started
        return f"{self.phase:<10} [{bar}] {self.percent:3d}%  {elapsed:6.1f} s"
