"""The one progress helper: periodic plain lines (count, rate, ETA) when stderr is not a terminal."""

from __future__ import annotations

import io

import selfalign.progress as progress_module
from selfalign.progress import progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_plain_lines_show_count_rate_and_eta(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module, "time", clock)
    out = io.StringIO()                       # not a TTY: plain lines, no bar
    with progress("execute", total=100, stream=out, every_s=30) as advance:
        clock.now += 40
        advance(20)                           # 40 s since the start: one line
        clock.now += 10
        advance(5)                            # 10 s since the last line: quiet
        clock.now += 30
    assert out.getvalue().splitlines() == [
        "execute: 20/100 (20%), 0.5/s, 0:40 elapsed, eta 2:40",
        "execute: 25/100 (25%), 0.312/s, 1:20 elapsed, eta 4:00",   # the closing line
    ]


def test_unknown_total_counts_without_eta_and_disabled_is_silent(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module, "time", clock)
    out = io.StringIO()
    with progress("seeds", stream=out) as advance:
        clock.now += 4
        advance(8)
    assert out.getvalue() == "seeds: 8, 2/s, 0:04 elapsed\n"
    quiet = io.StringIO()
    with progress("seeds", total=3, stream=quiet, enabled=False) as advance:
        advance(3)
    assert quiet.getvalue() == ""


def test_no_repeated_closing_line(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module, "time", clock)
    out = io.StringIO()
    with progress("curate", total=2, stream=out, every_s=30) as advance:
        clock.now += 31
        advance(2)                            # a periodic line with the final count
    assert out.getvalue().splitlines() == ["curate: 2/2 (100%), 0.0645/s, 0:31 elapsed"]


def test_a_step_with_nothing_to_do_says_zero_per_second_not_unknown():
    from selfalign.progress import progress_line

    assert progress_line("curate", 0, None, 0.7) == "curate: 0, 0/s, 0:01 elapsed"
    assert progress_line("curate", 0, None, 0.0) == "curate: 0, ?/s, 0:00 elapsed"
