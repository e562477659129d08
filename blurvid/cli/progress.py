"""Progress for a log file: what stderr gets off a terminal, where no bar is drawn."""

from __future__ import annotations

import time

from blurvid.cli.common import say


def duration(seconds: float) -> str:
    """``h:mm:ss`` (``unknown`` for infinity)."""
    if seconds == float("inf"):
        return "unknown"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class PeriodicLines:
    """Progress for a log file (stderr off a terminal, where no bar is drawn): a line at most
    every ``interval`` seconds and at the end, ``blurvid: <what> 12/340, 0.50/s, ETA 0:10:56``.
    ``advance()`` after each item; returns the line it printed, if any."""

    def __init__(self, what: str, total: int, interval: float = 30.0,
                 clock=time.monotonic) -> None:
        self.what, self.total, self.interval, self.clock = what, total, interval, clock
        self.start = self.last = clock()
        self.done = 0

    def advance(self) -> str | None:
        self.done += 1
        now = self.clock()
        if now - self.last < self.interval and self.done < self.total:
            return None
        self.last = now
        rate = self.done / max(now - self.start, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        line = (f"blurvid: {self.what} {self.done}/{self.total}, {rate:.2f}/s, "
                f"ETA {duration(eta)}")
        say(line)
        return line
