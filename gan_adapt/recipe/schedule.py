"""Which step kind each adaptation step is, and which terms apply to it.

One definition, used by the engine's loop, by its terms and by ``validate``'s warnings about
settings that never take effect, so that the three can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


def step_kind(schedule: Sequence[Any], index: int) -> Any:
    """The first kind whose ``every``/``offset`` claims ``index``; the last kind otherwise."""
    for kind in schedule:
        if kind.every is not None and index % kind.every == kind.offset % kind.every:
            return kind
    return schedule[-1]


def term_applies(term: Any, kind: str, index: int) -> bool:
    """Whether a term (``on``/``every``/``start``) contributes at step ``index`` of ``kind``."""
    if term.on is not None and kind not in term.on:
        return False
    return index >= term.start and (index - term.start) % term.every == 0


def kinds_by_step(schedule: Sequence[Any], steps: int) -> Iterator[tuple[int, str]]:
    """``(index, kind name)`` of every adaptation step of a run of ``steps`` steps."""
    for index in range(steps):
        yield index, step_kind(schedule, index).name
