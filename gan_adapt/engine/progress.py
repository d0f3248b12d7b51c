"""Progress of a phase: a rich live bar on a terminal, plain log lines otherwise (CI, pipes)."""

from __future__ import annotations

import sys
import time
from typing import Any


class PhaseProgress:
    """Shows step, steps/s, ETA and the latest loss values of one phase.

    Use as a context manager and call :meth:`update` after each step.
    """

    def __init__(self, phase: str, total: int, start: int = 0, *, stream: Any = None,
                 live: bool | None = None, lines: int = 20,
                 enabled: bool = True) -> None:
        self.enabled = enabled  # False: silent (the non-zero ranks of a multi-process run)
        self.phase, self.total, self.start = phase, total, start
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        # Plain mode prints about `lines` lines per phase, and always the last step.
        self.every = max(1, (total - start) // max(1, lines))
        self._progress: Any = None
        self._task: Any = None
        self._t0 = time.perf_counter()

    def __enter__(self) -> "PhaseProgress":
        self._t0 = time.perf_counter()
        if self.live and self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeRemainingColumn)

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                TextColumn("{task.fields[values]}"),
                console=Console(file=self.stream), transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task(self.phase, total=self.total,
                                                 completed=self.start, rate="", values="")
        return self

    def update(self, step: int, values: dict[str, float]) -> None:
        """Record that ``step`` (0-based) is done, with its logged values."""
        if not self.enabled:
            return
        done = step + 1
        if values:
            self._values = values
        values = getattr(self, "_values", {})
        elapsed = time.perf_counter() - self._t0
        rate = (done - self.start) / elapsed if elapsed > 0 else 0.0
        shown = "  ".join(f"{k}={v:.4g}" for k, v in list(values.items())[:6])
        if self._progress is not None:
            self._progress.update(self._task, completed=done, rate=f"{rate:.2f} it/s",
                                  values=shown)
        elif (done - self.start) % self.every == 0 or done == self.total:
            eta = (self.total - done) / rate if rate > 0 else float("nan")
            print(f"[{self.phase}] step {done}/{self.total}  {rate:.2f} it/s  eta {eta:.0f}s  "
                  f"{shown}", file=self.stream, flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
