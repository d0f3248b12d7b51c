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
