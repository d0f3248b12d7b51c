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


def applied_before(term: Any, schedule: Sequence[Any] | None, index: int) -> bool:
    """Whether ``term`` applied at any step before ``index`` (``schedule`` None: the search,
    whose every step is of kind ``"search"``)."""
    for earlier in range(term.start, index, term.every):  # the only steps it can apply at
        kind = "search" if schedule is None else step_kind(schedule, earlier).name
        if term_applies(term, kind, earlier):
            return True
    return False


#: Steps past the terms' last ``start`` after which :func:`first_step_without_terms` stops
#: looking, when the schedule's period is longer (only contrived ``every`` values make it so).
MAX_SCAN = 4_000_000


def first_step_without_terms(terms: Sequence[Any], schedule: Sequence[Any] | None,
                             steps: int) -> tuple[int, str] | None:
    """``(index, kind name)`` of the first of ``steps`` steps at which no term of ``terms``
    applies, or None when every step has one (``schedule`` None: the search).

    A step without terms has nothing to optimise, so the loop could not run it. Between two
    consecutive ``start`` values the same terms are active, and which of them apply repeats
    with the least common multiple of every ``every``: one period of each such segment decides
    (scanned with numpy, in blocks).
    """
    import math

    import numpy as np

    steps = int(steps)
    kinds = [] if schedule is None else list(schedule)
    names = ["search"] if schedule is None else [k.name for k in kinds]
    period = math.lcm(*(int(x.every) for x in [*terms, *kinds] if x.every is not None), 1)
    starts = sorted({0, *(int(t.start) for t in terms if t.start < steps)}) + [steps]
    for begin, end in zip(starts, starts[1:]):
        end = min(end, begin + min(period, MAX_SCAN))
        for first in range(begin, end, 1 << 16):
            index = np.arange(first, min(first + (1 << 16), end), dtype=np.int64)
            kind_of = _kinds_of(kinds, index)
            covered = np.zeros(len(index), dtype=bool)
            for term in terms:
                on_kind = np.array([term.on is None or name in term.on for name in names])
                covered |= (on_kind[kind_of] & (index >= term.start)
                            & ((index - term.start) % term.every == 0))
            if not covered.all():
                at = int(np.argmin(covered))
                return int(index[at]), names[int(kind_of[at])]
    return None


def _kinds_of(kinds: Sequence[Any], index: Any) -> Any:
    """Each step's kind (its position in ``kinds``; 0 without kinds), as :func:`step_kind`
    picks it: the first kind whose every/offset claims the step, the last kind otherwise."""
    import numpy as np

    kind_of = np.full(len(index), max(len(kinds) - 1, 0), dtype=np.int64)
    for k in reversed(range(len(kinds))):
        every = kinds[k].every
        if every is not None:
            kind_of[index % every == kinds[k].offset % every] = k
    return kind_of
