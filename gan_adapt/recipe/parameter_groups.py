"""Freezing parameters by group name.

Networks expose ``parameter_groups() -> {group: [parameter names]}`` (a StyleGAN2 generator has
``mapping``, ``const``, ``b{res}.conv`` and ``b{res}.torgb``), so recipes can freeze layers by
name with shell-style patterns, e.g. ``freeze = ["mapping", "*.torgb"]``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from gan_adapt.errors import GanAdaptError

#: The groups of any StyleGAN2 generator (4 to 1024 px). Before a generator is built, a freeze
#: list is checked against these: patterns that match all of them leave nothing to train.
STYLEGAN2_GROUPS = ("mapping", "const") + tuple(
    f"b{2 ** k}.{part}" for k in range(2, 11) for part in ("conv", "torgb"))


def freeze_problems(patterns: Sequence[str], groups: Sequence[str], *, unmatched: bool = True,
                    where: str = "adapt.freeze") -> list[str]:
    """What is wrong with freezing ``patterns`` in a network whose groups are ``groups``:
    patterns that match no group (a typo; checked when ``unmatched``), and a list that leaves
    no group to train."""
    problems = []
    if unmatched:
        problems += [f"{where}: the pattern {pattern!r} matches no parameter group; the groups "
                     f"are: {', '.join(groups)}" for pattern in patterns
                     if not any(fnmatch.fnmatchcase(g, pattern) for g in groups)]
    if patterns and all(any(fnmatch.fnmatchcase(g, p) for p in patterns) for g in groups):
        problems.append(f"{where}: {list(patterns)} freezes every parameter group, so "
                        "adaptation would have nothing to train; leave at least one group out")
    return problems


def freeze(model: Any, patterns: Sequence[str]) -> list[str]:
    """Set ``requires_grad=False`` on every parameter whose group matches one of ``patterns``.

    A pattern that matches no group is an error (a typo would otherwise silently train layers
    meant to be frozen). Returns the frozen parameter names.
    """
    groups: dict[str, list[str]] = model.parameter_groups()
    params = dict(model.named_parameters())
    frozen: list[str] = []
    for pattern in patterns:
        matched = [g for g in groups if fnmatch.fnmatchcase(g, pattern)]
        if not matched:
            raise GanAdaptError(f"the freeze pattern {pattern!r} matches no parameter group; "
                                f"the groups are: {', '.join(groups)}")
        for group in matched:
            for name in groups[group]:
                if name not in frozen:
                    params[name].requires_grad_(False)
                    frozen.append(name)
    return frozen
