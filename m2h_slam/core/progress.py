"""Progress of long work on standard error: tqdm's bar on a terminal; elsewhere (a log file, CI, a pipe) one plain
line every ``every_s`` seconds and one at the end, instead of hundreds of carriage-return updates.

    bar = progress(total=len(frames), desc="mapping", unit="frame", disable=quiet)
    for frame in frames:
        ...
        bar.set_postfix(fps="12.3")
        bar.update(1)
    bar.close()

``progress(iterable, ...)`` wraps an iterable the same way.
"""

from __future__ import annotations

import sys
import time

EVERY_S = 10.0


def progress(iterable=None, *, total: int | None = None, desc: str = "", unit: str = "it", initial: int = 0,
             disable: bool = False, leave: bool = True, every_s: float = EVERY_S, stream=None):
    """A tqdm bar when ``stream`` (standard error) is a terminal, else a ``PlainProgress``."""
    stream = sys.stderr if stream is None else stream
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if hasattr(stream, "isatty") and stream.isatty():
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, disable=disable, leave=leave,
                    file=stream)
    return PlainProgress(iterable, total, desc, unit, initial, disable, every_s, stream)


class PlainProgress:
    """tqdm's ``update``, ``set_postfix``, ``close`` and iteration, written as plain lines: "mapping: 120/1500
    frames (8 %), 11.2 frames/s, fps=11.2 tracking=ok" at most every ``every_s`` seconds and at the end."""

    def __init__(self, iterable, total: int | None, desc: str, unit: str, initial: int, disable: bool,
                 every_s: float, stream):
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n, self.start_n, self.disable, self.every_s, self.stream = initial, initial, disable, every_s, stream
        self.postfix = ""
        self.started = self.last = time.monotonic()
        self.closed = False

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def set_postfix(self, **values) -> None:
        self.postfix = " ".join(f"{k}={v}" for k, v in values.items())

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            self._write()

    def close(self) -> None:
        if not self.closed and self.n > self.start_n:
            self._write()
        self.closed = True

    def _write(self) -> None:
        if self.disable:
            return
        elapsed = time.monotonic() - self.started
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        share = f" ({100 * self.n / self.total:.0f} %)" if self.total else ""
        rate = f", {(self.n - self.start_n) / elapsed:.1f} {self.unit}s/s" if elapsed > 0 else ""
        extra = f", {self.postfix}" if self.postfix else ""
        self.stream.write(f"{self.desc}: {done} {self.unit}s{share}{rate}{extra}\n")
        self.stream.flush()
