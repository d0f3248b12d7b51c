"""How many CPU threads a run uses, chosen so that a busy machine slows it down gracefully.

PyTorch's default (one thread per core, OpenMP threads that spin while they wait) is fastest on
an idle machine with large convolutions, and much slower when other processes want the same
cores: a thread that spins, or that waits for a colleague which the kernel has paused, wastes
whole time slices. On the project's shared 2-core machine the demo's step took 6-20x longer with
2 threads than with 1 under load (measurements: docs/performance.md, ``benchmarks/threads.py``).

So ``threads = "auto"`` (the default of ``[run] threads`` and of ``--threads``) means:

* ``OMP_NUM_THREADS`` when the environment sets it (the user's, or a sweep's, choice);
* 1 on a machine with at most 2 usable cores: there 1 thread was never much slower than the
  best choice, and 2 threads were up to 20x slower beside other work;
* otherwise the cores left idle by other work when the run starts (usable cores minus the
  1-minute load average), at least 1 and at most 8.

The command line also makes waiting OpenMP threads sleep instead of spin
(``OMP_WAIT_POLICY=PASSIVE``, unless the environment sets it), before torch is imported: it
costs nothing with one thread and keeps several threads from burning shared cores.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from gan_adapt.errors import GanAdaptError

#: Most threads "auto" picks: beyond this the small convolutions of a run hardly speed up.
MAX_AUTO_THREADS = 8


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and the reason for it (shown in the run's header)."""

    threads: int
    reason: str


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parse_threads(value: object, where: str = "--threads") -> int | None:
    """``"auto"`` -> None; a positive integer (or its text) -> that integer."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number < 1 or isinstance(value, bool):
        raise GanAdaptError(f"{where} {value!r}: give a positive number of threads or auto")
    return number


def choose_threads(requested: int | str | None = "auto", *, cores: int | None = None,
                   load: float | None = None, env: dict[str, str] | None = None) -> ThreadChoice:
    """The thread count for ``requested`` (a number, ``"auto"`` or None = auto); see the
    module doc. ``cores``, ``load`` and ``env`` default to this machine's (tests pass them)."""
    number = parse_threads(requested)
    if number is not None:
        return ThreadChoice(number, "as asked")
    env = os.environ if env is None else env
    from_env = env.get("OMP_NUM_THREADS", "").strip()
    if from_env:
        return ThreadChoice(parse_threads(from_env, "OMP_NUM_THREADS"),
                            "auto: OMP_NUM_THREADS")
    cores = usable_cores() if cores is None else cores
    if cores <= 2:
        return ThreadChoice(1, f"auto: {cores} cores, 1 thread degrades least when shared")
    load = _load_average() if load is None else load
    idle = max(1, min(MAX_AUTO_THREADS, cores - math.ceil(load - 0.25)))
    return ThreadChoice(idle, f"auto: {cores} cores, load average {load:.1f}")


def apply_threads(requested: int | str | None = "auto") -> ThreadChoice:
    """Choose (see :func:`choose_threads`) and set torch's intra-op thread count."""
    import torch

    choice = choose_threads(requested)
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    return choice


def prefer_passive_wait(env: dict[str, str] | None = None) -> None:
    """Let idle OpenMP threads sleep rather than spin (unless the environment says otherwise).
    Takes effect only before torch (and its OpenMP runtime) is loaded: the CLI calls it first."""
    env = os.environ if env is None else env
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _load_average() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0
