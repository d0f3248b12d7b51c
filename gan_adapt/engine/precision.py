"""``precision = "auto"``: bfloat16 where the hardware computes it fast, float32 elsewhere.

bfloat16 halves the memory of the encoders' and LPIPS's activations and, on hardware with bf16
units, speeds them up. Without such units it is a trap: a CPU with AVX2 only (no AVX-512) emulates
every bf16 operation by converting to float32 and back, and a small bf16 convolution there runs
far slower than the float32 one. So:

* CUDA: fast bf16 from compute capability 8.0 (Ampere) on.
* CPU: fast bf16 with the ``avx512_bf16`` or AMX (``amx_bf16``) instructions, read from
  ``/proc/cpuinfo`` (Linux). Elsewhere (no flags readable) the answer is "not fast": fp32 is
  never the slow choice.

``"auto"`` picks bf16 only where it is fast. An explicit ``"bf16"`` is obeyed everywhere, with a
one-line warning where it will be slower than fp32. The flag sets and the capability are
parameters, so tests can ask about hardware they do not run on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

#: CPU flags (as /proc/cpuinfo spells them) of instructions that compute bfloat16 natively.
FAST_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: The vector instruction sets worth naming in a benchmark header, widest last.
_SHOWN_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                "amx_tile", "amx_bf16", "amx_int8")
MIN_CUDA_CAPABILITY = (8, 0)


@dataclass(frozen=True)
class Bf16Support:
    """Whether a device computes bfloat16 fast, and in words why (or why not)."""

    fast: bool
    device: str  # "cpu" or "cuda"
    reason: str


@functools.cache
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags of this machine's CPU (empty when they cannot be read)."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / ARM spelling
            return frozenset(value.split())
    return frozenset()


def describe_cpu(flags: frozenset[str] | None = None) -> str:
    """The vector instruction sets this CPU has, e.g. ``"avx2 fma"`` (plus torch's own view)."""
    flags = cpu_flags() if flags is None else flags
    shown = " ".join(f for f in _SHOWN_FLAGS if f in flags) or "none of " + "/".join(_SHOWN_FLAGS)
    try:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001 - only a label
        capability = "unknown"
    return f"{shown} (torch kernels: {capability})"


def bf16_support(device: str, *, flags: frozenset[str] | None = None,
                 capability: tuple[int, int] | None = None) -> Bf16Support:
    """Does ``device`` ("cpu", "cuda", "cuda:1") compute bfloat16 fast?

    ``flags`` (CPU) and ``capability`` (CUDA) default to this machine's.
    """
    kind = str(device).split(":")[0]
    if kind == "cuda":
        if capability is None:
            import torch

            capability = torch.cuda.get_device_capability(str(device))
        fast = tuple(capability) >= MIN_CUDA_CAPABILITY
        cc = f"{capability[0]}.{capability[1]}"
        return Bf16Support(fast, "cuda", f"CUDA compute capability {cc}"
                           + ("" if fast else " (bf16 units need 8.0 or more)"))
    flags = cpu_flags() if flags is None else flags
    native = sorted(FAST_BF16_CPU_FLAGS & flags)
    if native:
        return Bf16Support(True, "cpu", f"this CPU has {' and '.join(native)}")
    best = next((f for f in ("avx512f", "avx2") if f in flags), None)
    what = f"{best.upper().replace('AVX512F', 'AVX-512')} only" if best else "no known vector " \
        "bf16 instructions"
    return Bf16Support(False, "cpu", f"this CPU has {what}, no AVX512_BF16 or AMX")


def resolve_precision(requested: str, device: str, *, flags: frozenset[str] | None = None,
                      capability: tuple[int, int] | None = None) -> str:
    """``"auto"`` -> ``"bf16"`` where bf16 is fast on ``device``, else ``"fp32"``; other
    values are returned unchanged."""
    if requested != "auto":
        return requested
    support = bf16_support(device, flags=flags, capability=capability)
    return "bf16" if support.fast else "fp32"


def slow_bf16_warning(requested: str, device: str, *, flags: frozenset[str] | None = None,
                      capability: tuple[int, int] | None = None) -> str | None:
    """The one-line warning for an explicit ``"bf16"`` on hardware without fast bf16, or None."""
    if requested != "bf16":
        return None
    support = bf16_support(device, flags=flags, capability=capability)
    if support.fast:
        return None
    return (f'precision = "bf16" will be slower than fp32 here: {support.reason}, so every '
            'bfloat16 operation is emulated through float32 conversions. It still runs (for its '
            'lower memory); precision = "auto" picks fp32 on this machine.')
