"""Running out of memory is not a plugin's bug: say so, and say what lowers a step's memory.

A CUDA allocation failure (``torch.OutOfMemoryError``) or a CPU one (the allocator's "can't
allocate memory") inside a term or a backward pass would otherwise be reported as that term's
failure. :func:`out_of_memory` turns it into an :class:`~gan_adapt.errors.OutOfMemory` that
names where it happened and the recipe's memory modes (docs/performance.md measures each).
"""

from __future__ import annotations

import torch

from gan_adapt.errors import OutOfMemory

#: Recipe settings that lower a step's peak memory, most effective first at high resolution.
MEMORY_MODES = (
    'adapt.precision = "bf16" and search.precision = "bf16" (encoders, LPIPS and the '
    "discriminator's high-resolution blocks in bfloat16)",
    "a smaller batch in [[adapt.schedule]] (memory grows with it)",
    "params.micro_batch = 4 on the patch_nce loss (its encoder backward in chunks, same result)",
    "params.image_size = 160 on a ViT CLIP encoder (the CLIP branch on smaller images)",
)

_CPU_MESSAGES = ("can't allocate memory", "out of memory", "cannot allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure of the CUDA or the CPU allocator."""
    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _CPU_MESSAGES)


def out_of_memory(exc: BaseException, where: str) -> OutOfMemory | None:
    """The :class:`OutOfMemory` to raise for ``exc`` raised in ``where``; None if ``exc`` is
    something else."""
    if not is_out_of_memory(exc):
        return None
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    modes = "\n".join(f"  - {mode}" for mode in MEMORY_MODES)
    return OutOfMemory(
        f"Out of memory in {where} ({detail}). The step needs more memory than the device has; "
        f"checkpoints already written are kept. Lower the memory a step needs, for "
        f"example with one of these recipe settings:\n{modes}\n"
        "docs/performance.md gives each mode's effect; `python benchmarks/step_time.py "
        "--tensor-memory` estimates a step's memory on any machine.")
