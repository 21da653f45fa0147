"""A terminal progress bar for long fits (stderr; redraws in place on a TTY)."""

import sys
import time
from typing import TextIO


class TerminalProgress:
    """Callable as ``progress(phase, fraction)``, the engine's ProgressCallback."""

    WIDTH = 30

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.started = time.monotonic()
        self.last_phase: str | None = None
        self.last_percent = -1

    def __call__(self, phase: str, fraction: float) -> None:
        percent = int(round(100 * min(max(fraction, 0.0), 1.0)))
        if phase == self.last_phase and percent == self.last_percent:
            return
        if not self.interactive and phase == self.last_phase and percent not in (100,):
            return  # in a log file, one line per phase and one at its end
        new_phase = phase != self.last_phase
        self.last_phase, self.last_percent = phase, percent
        filled = self.WIDTH * percent // 100
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        line = f"{phase:<10} [{bar}] {percent:3d}%  {time.monotonic() - self.started:6.1f} s"
        if self.interactive:
            prefix = "\n" if new_phase and self.last_percent != -1 and percent == 0 else "\r"
            self.stream.write(prefix + line)
            if percent == 100:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
