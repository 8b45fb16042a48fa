"""Progress display for generation: a live bar on a terminal, plain periodic lines otherwise.

Reads only what each attempt reports (the same records that go to ``metrics.jsonl``), so the bar, the
log and the notebook tell the same story.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from mimicforge.outputs import MetricsRecord


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
    """Call with each attempt's record; ``close`` prints the final summary line."""

    def __init__(self, target: int, stop_on: str, *, stream: TextIO | None = None, tty: bool | None = None,
                 interval: float = 10.0, label: str = "generate") -> None:
        self.target = target
        self.stop_on = stop_on
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.label = label
        self.successes = self.attempts = 0  # this run
        self.done_before: int | None = None  # successes (or attempts) already on record when resuming
        self.t0 = time.monotonic()
        self._last_line = 0.0
        self._bar: Any = None

    def _done(self, summary: Any) -> int:
        return summary.successes if self.stop_on == "successes" else summary.attempts

    def stats(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        rate = self.successes / self.attempts if self.attempts else 0.0
        per_min = self.successes / elapsed * 60.0
        return {"elapsed": elapsed, "rate": rate, "per_min": per_min}

    def eta(self, done: int) -> float | None:
        remaining = self.target - done
        if remaining <= 0:
            return 0.0
        elapsed = time.monotonic() - self.t0
        new = self.successes if self.stop_on == "successes" else self.attempts
        return elapsed / new * remaining if new else None

    def __call__(self, record: MetricsRecord, summary: Any) -> None:
        self.attempts += 1
        self.successes += int(record.success)
        done = self._done(summary)
        if self.done_before is None:
            self.done_before = done - (int(record.success) if self.stop_on == "successes" else 1)
        st = self.stats()
        eta = self.eta(done)
        if self.tty:
            self._update_bar(done, st, summary)
        elif time.monotonic() - self._last_line >= self.interval or done >= self.target:
            self._last_line = time.monotonic()
            print(
                f"{self.label}: {done}/{self.target} {self.stop_on} in the file; this run {self.successes} "
                f"successes in {self.attempts} attempts ({st['rate']:.0%} ok), {st['per_min']:.1f} demos/min, "
                f"ETA {format_duration(eta) if eta is not None else '?'}",
                file=self.stream, flush=True,
            )

    def _update_bar(self, done: int, st: dict[str, float], summary: Any) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=self.target, initial=self.done_before or 0, desc=self.label,
                             unit="demo" if self.stop_on == "successes" else "attempt", file=self.stream,
                             dynamic_ncols=True, smoothing=0.1)
        self._bar.n = done
        self._bar.set_postfix_str(f"this run {self.successes}/{self.attempts} ok ({st['rate']:.0%}), "
                                  f"{st['per_min']:.1f}/min",
                                  refresh=False)
        self._bar.refresh()

    def close(self, summary: Any | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if summary is not None:
            st = self.stats()
            dropped = getattr(summary, "discarded", 0)
            extra = f", {dropped} more finished after the goal (discarded)" if dropped else ""
            print(
                f"{self.label}: {summary.successes} successes / {summary.attempts} attempts in {summary.output} "
                f"(this run: {summary.new_successes} successes kept in {self.attempts} attempts{extra}, "
                f"{st['rate']:.1%} ok, {st['per_min']:.1f} demos/min, {format_duration(st['elapsed'])})",
                file=self.stream, flush=True,
            )
