"""The tensor shapes a network config implies, found without allocating the network.

A checkpoint's config (a native ``config.json``, or one inferred from a single tensor's shape)
declares widths and resolutions; building the network it describes allocates memory for all of
them. A 356-byte ``config.json`` declaring 6,000 channels would allocate gigabytes before any
check. So loaders first build the network on PyTorch's ``meta`` device (shapes, no storage),
compare those shapes with the tensors the file really holds, and only then allocate.

Building with ``torch.device("meta")`` routes every arithmetic op of the constructors through
PyTorch's Python reference implementations, whose first use imports ``torch._dynamo`` (tens of
seconds on a busy machine). :class:`_ShapesOnly` is lighter: factory calls make ``meta``
tensors directly, and the element-wise arithmetic constructors do on them (``randn(...) / lr``)
keeps the broadcast shape. Anything else falls back to the real op.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from gan_adapt.errors import CheckpointError

_FACTORIES = {torch.randn, torch.rand, torch.zeros, torch.ones, torch.empty, torch.full}
_ELEMENTWISE = {"add", "sub", "mul", "div", "truediv", "neg", "pow"}

#: Larger than any StyleGAN2 ever trained (1024 px, 8 mapping layers); a config beyond these is
#: refused before even its shapes are built (that alone would take unbounded time).
MAX_RESOLUTION = 2**14
MAX_MAPPING_LAYERS = 64


def _size_of(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if func is torch.full:
        return args[0] if args else kwargs["size"]
    if len(args) == 1 and isinstance(args[0], (list, tuple, torch.Size)):
        return args[0]
    return args if args else kwargs.get("size", ())


def _broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of shapes (``torch.broadcast_shapes`` would import ``torch._refs``,
    seconds of start-up, for this one rule)."""
    length = max(len(s) for s in shapes)
    padded = [(1,) * (length - len(s)) + s for s in shapes]
    out = []
    for sizes in zip(*padded):
        others = {n for n in sizes if n != 1}
        if len(others) > 1:
            raise ValueError(f"shapes {shapes} do not broadcast")
        out.append(others.pop() if others else 1)
    return tuple(out)


def _op_name(func: Any) -> str:
    """``__rtruediv__`` -> ``truediv``; ``mul_`` -> ``mul_`` (in-place ops keep the ``_``)."""
    name = getattr(func, "__name__", "")
    if name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
        if name[:1] in ("r", "i") and name[1:] in _ELEMENTWISE:
            name = name[1:]
    return name


class _ShapesOnly(TorchFunctionMode):
    """Tensors made inside are ``meta`` tensors: shapes and dtypes, no memory."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _FACTORIES:
            return torch.empty(_size_of(func, args, kwargs), dtype=kwargs.get("dtype"),
                               device="meta")
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
        if any(t.is_meta for t in tensors):
            name = _op_name(func)
            if name in _ELEMENTWISE:
                with torch._C.DisableTorchFunction():
                    shape = _broadcast(*(tuple(t.shape) for t in tensors))
                    return torch.empty(shape, dtype=tensors[0].dtype, device="meta")
            if name.endswith("_") and not name.startswith("_") and args \
                    and isinstance(args[0], torch.Tensor) and args[0].is_meta:
                return args[0]  # an in-place initialiser (normal_, fill_, ...): shape kept
        return func(*args, **kwargs)


def _check_plausible(config: Any, source: str) -> None:
    resolution = getattr(config, "img_resolution", 0)
    if resolution > MAX_RESOLUTION:
        raise CheckpointError(f"{source}: the config declares {resolution}x{resolution} images; "
                              f"gan-adapt reads networks up to {MAX_RESOLUTION} px")
    layers = getattr(config, "mapping_layers", 0)
    if layers > MAX_MAPPING_LAYERS:
        raise CheckpointError(f"{source}: the config declares {layers} mapping layers; a "
                              f"StyleGAN2 has at most {MAX_MAPPING_LAYERS}")


def expected_shapes(build: Callable[[Any], torch.nn.Module], config: Any,
                    source: str) -> dict[str, torch.Size] | None:
    """``{name: shape}`` of ``build(config)``'s state dict, without allocating its tensors.

    None if the constructor does something the shape-only mode cannot follow; the caller then
    builds for real (and checks the shapes afterwards, as before).
    """
    _check_plausible(config, source)
    try:
        with _ShapesOnly():
            module = build(config)
        return {k: v.shape for k, v in module.state_dict().items()}
    except (RuntimeError, TypeError, ValueError, NotImplementedError):
        return None
