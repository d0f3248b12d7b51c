"""Limits every recipe value must respect, whatever component it belongs to.

The recipe schema (:mod:`gan_adapt.recipe`) checks each field's own domain. A few limits hold
for *every* value, including the params of third-party components whose models cannot be
expected to think of them; :func:`value_problems` checks those on the raw TOML data, before
anything else looks at it:

* nesting no deeper than :data:`MAX_DEPTH` (deep data would exhaust Python's recursion on the
  way through pydantic, deepcopy or JSON);
* floats finite (a NaN or an infinity reaches the optimiser as a silent NaN loss, hours later);
* integers within 64 bits (torch refuses wider ones with an overflow deep inside a step).

:func:`name_problems` checks a name that becomes a folder name, and
:func:`memory_problems` refuses batch sizes whose tensors alone cannot fit the machine.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

#: Deeper than any recipe needs (the deepest shipped one, a CLIP model config, has 6 levels).
MAX_DEPTH = 16
#: torch stores integers in 64 bits; a seed or a size beyond that overflows inside torch.
INT_RANGE = (-(2 ** 63), 2 ** 63 - 1)
#: Longest file or folder name on common file systems (ext4, APFS, NTFS), in bytes.
MAX_NAME_BYTES = 255
#: What ``runs/<name>-<timestamp>[-N]`` appends to a recipe name.
RUN_FOLDER_SUFFIX_BYTES = len("-20260101-000000-999")


def walk(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) of nested dicts and lists, without recursion (any depth is safe)."""
    stack = [(path, data)]
    while stack:
        where, value = stack.pop()
        yield where, value
        if isinstance(value, dict):
            stack += [(where + (key,), child) for key, child in reversed(value.items())]
        elif isinstance(value, list):
            stack += [(where + (i,), child) for i, child in reversed(list(enumerate(value)))]


def too_deep(data: Any) -> str | None:
    """The problem of data nested deeper than :data:`MAX_DEPTH`, or None."""
    from gan_adapt.recipe.key_paths import format_path

    for path, _ in walk(data):
        if len(path) > MAX_DEPTH:
            return (f"{format_path(path[:MAX_DEPTH])}: nested more than {MAX_DEPTH} levels "
                    "deep; no recipe needs that")
    return None


def value_problems(data: Any) -> list[str]:
    """Nesting, non-finite floats and out-of-range integers anywhere in ``data``."""
    from gan_adapt.recipe.key_paths import format_path

    deep = too_deep(data)
    if deep:
        return [deep]
    problems = []
    for path, value in walk(data):
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{format_path(path)}: {value} is not a finite number")
        elif isinstance(value, int) and not isinstance(value, bool) and \
                not INT_RANGE[0] <= value <= INT_RANGE[1]:
            problems.append(f"{format_path(path)}: {value} does not fit in 64 bits")
    return problems


def name_problems(name: str, what: str) -> list[str]:
    """Problems of a ``name`` that becomes (part of) a folder name, ``what`` says where."""
    problems = []
    if not name.strip():
        problems.append(f"{what}: must not be empty")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        problems.append(f"{what}: {name[:40]!r} holds a control character (NUL, newline, ...); "
                        "a folder name cannot")
    size = len(name.encode("utf-8", "surrogatepass"))
    limit = MAX_NAME_BYTES - RUN_FOLDER_SUFFIX_BYTES
    if size > limit:
        problems.append(f"{what}: {size} bytes long; at most {limit} bytes fit in a folder name "
                        f"(with the run's time stamp, {MAX_NAME_BYTES} bytes)")
    return problems


# ---------------------------------------------------------------------------------------------
# Memory

#: Bytes one training sample needs at the very least: its latents (z and a w per layer of the
#: smallest StyleGAN2, 512 floats each) and, per output pixel, the RGB image of G_s and of G_t
#: with their gradients. A real step needs several times more (activations); this is a floor,
#: so a refusal is certain, never a guess.
_LATENT_BYTES = 4 * 512 * 2
_BYTES_PER_PIXEL = 4 * 3 * 4


def sample_bytes(resolution: int) -> int:
    """The least memory one sample of a training batch or a sample grid needs."""
    return _LATENT_BYTES + _BYTES_PER_PIXEL * resolution * resolution


def machine_memory(device: Any = None) -> int | None:
    """Bytes of memory of ``device`` (a CUDA GPU's, else this machine's RAM); None if unknown."""
    if device is not None and getattr(device, "type", str(device)) == "cuda":
        import torch

        return int(torch.cuda.get_device_properties(device).total_memory)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX
        return None


def memory_problems(recipe: Any, resolution: int = 8, device: Any = None) -> list[str]:
    """Batch sizes (training steps, anchors, sample grids) that cannot fit ``device``.

    ``resolution`` is the generator's, when known; the default is the smallest StyleGAN2's, so
    before any model is built only sizes that fit no generator at all are refused.
    """
    available = machine_memory(device)
    if available is None:
        return []
    per_sample = sample_bytes(resolution)
    sizes = [(f"adapt.schedule[{i}].batch", kind.batch)
             for i, kind in enumerate(recipe.adapt.schedule)]
    sizes += [(f"adapt.schedule[{i}].anchors", kind.anchors)
              for i, kind in enumerate(recipe.adapt.schedule) if kind.latents == "anchors"]
    sizes.append(("output.n_samples", recipe.output.n_samples))
    where = "this GPU" if getattr(device, "type", None) == "cuda" else "this machine"
    problems = []
    for path, size in sizes:
        needed = size * per_sample
        if needed > available:
            problems.append(
                f"{path}: {size} samples need at least {_gib(needed)} at {resolution}x"
                f"{resolution} pixels (latents and images alone), more than the "
                f"{_gib(available)} of {where}; use a smaller value")
    return problems


def _gib(n: int) -> str:
    return f"{n / 2 ** 30:,.1f} GiB"
