"""precision = "auto": bf16 only where the hardware computes it fast; a warning for a slow bf16."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from gan_adapt.engine import precision
from gan_adapt.engine.precision import (
    bf16_support,
    cpu_flags,
    describe_cpu,
    resolve_precision,
    slow_bf16_warning,
)
from gan_adapt.recipe.schema import Adapt, Search

AVX2_ONLY = frozenset({"sse4_2", "avx", "avx2", "fma"})  # this project's AMD EPYC machines
AVX512 = AVX2_ONLY | {"avx512f", "avx512bw", "avx512_vnni"}


@pytest.mark.parametrize("flags, chosen", [
    (AVX2_ONLY, "fp32"), (AVX512, "fp32"), (frozenset(), "fp32"),
    (AVX512 | {"avx512_bf16"}, "bf16"), (AVX512 | {"amx_tile", "amx_bf16"}, "bf16"),
])
def test_auto_on_cpus(flags, chosen):
    assert resolve_precision("auto", "cpu", flags=flags) == chosen
    assert resolve_precision("fp32", "cpu", flags=flags) == "fp32"  # explicit values obeyed
    assert resolve_precision("bf16", "cpu", flags=flags) == "bf16"


@pytest.mark.parametrize("capability, chosen", [((7, 5), "fp32"), ((8, 0), "bf16"),
                                                ((9, 0), "bf16"), ((6, 1), "fp32")])
def test_auto_on_cuda(capability, chosen):
    assert resolve_precision("auto", "cuda:0", capability=capability) == chosen


def test_explicit_bf16_warns_only_where_it_is_slow():
    line = slow_bf16_warning("bf16", "cpu", flags=AVX2_ONLY)
    assert line is not None and "\n" not in line
    assert "slower than fp32" in line and "AVX2 only" in line and "AVX512_BF16 or AMX" in line
    assert "AVX-512 only" in slow_bf16_warning("bf16", "cpu", flags=AVX512)
    assert slow_bf16_warning("bf16", "cpu", flags=AVX512 | {"avx512_bf16"}) is None
    assert slow_bf16_warning("auto", "cpu", flags=AVX2_ONLY) is None
    assert slow_bf16_warning("bf16", "cuda", capability=(7, 0)) is not None
    assert slow_bf16_warning("bf16", "cuda", capability=(8, 6)) is None


def test_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx avx2 fma\n\n"
                    "processor\t: 1\nflags\t\t: fpu sse avx avx2 fma\n")
    assert cpu_flags(info) == frozenset({"fpu", "sse", "avx", "avx2", "fma"})
    assert cpu_flags(tmp_path / "absent") == frozenset()
    assert describe_cpu(frozenset({"avx2", "fma"})).startswith("avx2 fma (torch kernels: ")


def test_this_machine_gets_the_decision_its_flags_call_for():
    fast = bool({"avx512_bf16", "amx_bf16"} & cpu_flags())
    assert bf16_support("cpu").fast is fast
    assert resolve_precision("auto", "cpu") == ("bf16" if fast else "fp32")
    assert (slow_bf16_warning("bf16", "cpu") is None) is fast


def test_auto_is_the_recipe_default():
    assert Search.model_fields["precision"].default == "auto"
    assert Adapt.model_fields["precision"].default == "auto"


def test_the_engine_resolves_auto_and_warns_once_for_a_slow_bf16(monkeypatch):
    from gan_adapt.engine.loop import set_precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: AVX2_ONLY)
    lpips_like = torch.nn.Linear(2, 2)
    lpips_like.mixed_precision = "unset"
    state = SimpleNamespace(device=torch.device("cpu"), components=SimpleNamespace(
        discriminator=None, encoders={"clip": lpips_like}, losses=[], search_terms=[]))
    set_precision(state, "adapt", "auto")
    assert lpips_like.mixed_precision is None  # fp32 on an AVX2-only CPU
    with pytest.warns(UserWarning, match="slower than fp32") as caught:
        set_precision(state, "adapt", "bf16")
    assert len(caught) == 1 and lpips_like.mixed_precision is torch.bfloat16
    monkeypatch.setattr(precision, "cpu_flags", lambda: AVX512 | {"amx_bf16"})
    set_precision(state, "adapt", "auto")
    assert lpips_like.mixed_precision is torch.bfloat16
