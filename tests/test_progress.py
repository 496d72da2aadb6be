"""Progress on standard error: a bar on a terminal, a few plain lines in a log file."""

from __future__ import annotations

import io

from m2h_slam.core.progress import PlainProgress, progress


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_log_file_gets_a_plain_line_every_few_seconds(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr("m2h_slam.core.progress.time.monotonic", clock)
    log = io.StringIO()  # not a terminal
    bar = progress(total=1500, desc="mapping", unit="frame", stream=log, every_s=10.0)
    assert isinstance(bar, PlainProgress)
    for _ in range(1500):  # 100 s at 15 frames/s
        clock.now += 1 / 15
        bar.set_postfix(fps="15.0", tracking="ok")
        bar.update(1)
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and 10 <= len(lines) <= 11, lines
    assert lines[-1] == "mapping: 1500/1500 frames (100 %), 15.0 frames/s, fps=15.0 tracking=ok"


def test_wrapping_an_iterable_and_quiet_runs():
    log = io.StringIO()
    assert list(progress(range(5), desc="checking", unit="frame", stream=log)) == [0, 1, 2, 3, 4]
    assert log.getvalue().startswith("checking: 5/5 frames (100 %)")
    quiet = io.StringIO()
    assert list(progress(range(5), stream=quiet, disable=True)) == list(range(5)) and quiet.getvalue() == ""


def test_a_terminal_gets_tqdm():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    from tqdm import tqdm

    assert isinstance(progress(total=3, stream=Terminal()), tqdm)
