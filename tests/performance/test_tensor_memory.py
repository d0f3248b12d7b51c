"""The benchmark's live-tensor counter (benchmarks/tensor_memory.py): an estimate of a GPU's
max_memory_allocated, so its arithmetic must be right."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from tensor_memory import BLOCK, TensorMemory  # noqa: E402

MIB = 2**20


def test_counts_what_is_alive_and_the_peak():
    with TensorMemory(include_existing=False) as counter:
        a = torch.zeros(MIB // 4)  # 1 MiB
        b = a + 1  # 2 MiB alive
        c = b * 2  # 3 MiB alive: the peak
        del b
        gc.collect()
        assert counter.live_bytes == 2 * MIB
        view = c[:10]  # a view shares its storage: nothing new
        assert counter.live_bytes == 2 * MIB
        del a, c
        gc.collect()
        assert counter.live_bytes == MIB  # the view keeps c's storage alive
        del view
        gc.collect()
        assert counter.live_bytes == 0
    assert counter.peak_bytes == 3 * MIB


def test_existing_tensors_count_and_are_released():
    weights = torch.zeros(MIB // 4)
    with TensorMemory() as counter:
        start = counter.live_bytes
        assert start >= MIB
        del weights
        gc.collect()
        assert counter.live_bytes == start - MIB


def test_sizes_round_up_to_allocator_blocks_and_autograd_saves_count():
    with TensorMemory(include_existing=False) as counter:
        small = torch.ones(3)  # 12 bytes -> one block
        assert counter.live_bytes == BLOCK
        x = torch.ones(MIB // 4, requires_grad=True)
        y = (x * 2).exp()  # exp saves its output for backward: y itself
        z = y.sum()
        before_backward = counter.live_bytes
        z.backward()
        assert x.grad is not None and counter.live_bytes > before_backward  # x.grad
        del small
