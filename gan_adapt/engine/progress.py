"""Progress of a phase: a rich live bar on a terminal, plain log lines otherwise (CI, pipes)."""

from __future__ import annotations

import math
import sys
import time
from typing import Any


class PhaseProgress:
    """Shows step, speed, ETA and the latest loss values of one phase.

    Use as a context manager and call :meth:`update` after each step. The ETA is the measured
    time per step (since the phase started or resumed) times the steps left. Loss values are
    logged every ``log_every`` steps only; between two logs the line shows the last ones with
    the step they come from (``@step 40``), never as if they were the current step's.
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

    def __enter__(self) -> PhaseProgress:
        self._t0 = time.perf_counter()
        if self.live and self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[eta]}"),
                TextColumn("{task.fields[values]}"),
                console=Console(file=self.stream), transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task(self.phase, total=self.total,
                                                 completed=self.start, rate="", eta="",
                                                 values="")
        return self

    def update(self, step: int, values: dict[str, float]) -> None:
        """Record that ``step`` (0-based) is done, with its logged values."""
        if not self.enabled:
            return
        done = step + 1
        if values:
            self._values, self._values_step = values, done
        values = getattr(self, "_values", {})
        elapsed = time.perf_counter() - self._t0
        per_step = elapsed / (done - self.start) if done > self.start else float("nan")
        shown = "  ".join(f"{k}={v:.4g}" for k, v in list(values.items())[:6])
        if values and self._values_step != done:
            shown += f"  (@step {self._values_step})"
        speed = format_speed(per_step)
        eta = format_duration(per_step * (self.total - done))
        if self._progress is not None:
            self._progress.update(self._task, completed=done, rate=speed, eta=f"eta {eta}",
                                  values=shown)
        elif (done - self.start) % self.every == 0 or done == self.total:
            print(f"[{self.phase}] step {done}/{self.total}  {speed}  eta {eta}  {shown}",
                  file=self.stream, flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def format_speed(seconds_per_step: float) -> str:
    """``2.31 it/s`` when faster than a step a second, else ``1.7 s/step``."""
    if math.isnan(seconds_per_step) or seconds_per_step <= 0:  # NaN: nothing measured yet
        return "-"
    if seconds_per_step < 1:
        return f"{1 / seconds_per_step:.2f} it/s"
    return f"{seconds_per_step:.1f} s/step"


def format_duration(seconds: float) -> str:
    """``45s``, ``12m05s`` or ``2h41m``; ``?`` when unknown."""
    if math.isnan(seconds) or seconds < 0:
        return "?"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
