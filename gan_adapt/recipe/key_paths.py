"""A recipe's key paths, as ``--set`` takes them and as messages show them
(``adapt.losses[2].weight``)."""

from __future__ import annotations

from typing import Any


def split_path(key: str) -> list[str | int]:
    """``adapt.losses[2].weight`` -> ``["adapt", "losses", 2, "weight"]``."""
    parts: list[str | int] = []
    for chunk in key.split("."):
        name, _, rest = chunk.partition("[")
        if not name:
            raise ValueError(f"bad key {key!r}")
        parts.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            if not index.isdigit():
                raise ValueError(f"bad index [{index}] in {key!r}")
            parts.append(int(index))
            rest = rest.lstrip("[")
    return parts


def format_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("adapt", "losses", 2, "weight")`` -> ``adapt.losses[2].weight``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(recipe root)"
