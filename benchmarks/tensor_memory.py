"""Peak bytes of live tensors, counted op by op: what ``torch.cuda.max_memory_allocated`` would
report for the same work on a GPU, measured on any device.

A CPU run's resident set size also holds Python, the libraries and the allocator's free lists,
so it overstates what a GPU would need. This counter sees only tensor storages: every storage an
aten op creates is added when it appears (inside the mode) and subtracted when its last user lets
go of it (a finalizer on the storage object, which PyTorch keeps alive exactly as long as the C++
storage). Storages that exist when counting starts (weights, optimiser states, cached inputs) are
counted from the start and subtracted if they are freed during the step.

Sizes are rounded up to the CUDA caching allocator's 512-byte blocks. What it does not see: the
allocator's fragmentation and rounding of large blocks (``max_memory_reserved`` is larger), cuDNN
and cuBLAS workspaces, and kernels whose GPU implementation saves other tensors than the CPU one
(e.g. flash attention's log-sum-exp instead of the attention matrix). Within those limits the
figure is a device-independent estimate of a step's GPU memory.

    with TensorMemory() as counter:
        step()
    print(counter.peak_bytes / 2**30, "GiB")
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

#: The CUDA caching allocator hands out multiples of 512 bytes.
BLOCK = 512


def _rounded(nbytes: int) -> int:
    return -(-nbytes // BLOCK) * BLOCK


class TensorMemory(TorchDispatchMode):
    """Counts the bytes of live tensor storages while active; ``peak_bytes`` is the maximum."""

    def __init__(self, include_existing: bool = True) -> None:
        super().__init__()
        self.live_bytes = 0
        self.peak_bytes = 0
        self.start_bytes = 0  # what was alive when counting began (weights, optimiser states)
        self._tracked: dict[int, weakref.finalize] = {}
        self._include_existing = include_existing

    def __enter__(self) -> TensorMemory:
        if self._include_existing:
            gc.collect()
            for obj in gc.get_objects():
                if issubclass(type(obj), torch.Tensor):  # type(): no lazy __class__ lookups
                    self._track(obj)
        self.start_bytes = self.live_bytes
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        for finalizer in self._tracked.values():
            finalizer.detach()  # nothing counts after the measurement
        self._tracked.clear()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        out = func(*args, **(kwargs or {}))
        for value in tree_flatten(out)[0]:
            if isinstance(value, torch.Tensor):
                self._track(value)
        return out

    def _track(self, tensor: torch.Tensor) -> None:
        if tensor.device.type == "meta" or tensor.is_sparse:
            return
        try:
            storage = tensor.untyped_storage()
        except (RuntimeError, NotImplementedError):  # tensor subclasses without storage
            return
        key = id(storage)
        if key in self._tracked or storage.nbytes() == 0:
            return
        size = _rounded(storage.nbytes())
        self._tracked[key] = weakref.finalize(storage, self._release, key, size)
        self.live_bytes += size
        self.peak_bytes = max(self.peak_bytes, self.live_bytes)

    def _release(self, key: int, size: int) -> None:
        self.live_bytes -= size
        self._tracked.pop(key, None)
