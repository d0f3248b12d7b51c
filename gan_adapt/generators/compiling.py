"""``torch.compile`` for the networks a step runs most: the recipe option ``compile``.

What is compiled, and why only that: the generator's synthesis network and the discriminator
(its ``forward`` and, where it has one, ``features``, the early-stopping pass the patch
discriminator reads). They are most of a step's operators (some 2,000 small ones per step on a
GPU, where Python dispatch sets the pace), and each traces to one graph without breaks.
Encoders and LPIPS are not compiled (their libraries' code is not ours to keep break-free).

How:

* In place (``nn.Module.compile``), so ``state_dict()`` keys do not change (no ``_orig_mod.``
  prefix): checkpoints, resumes and saved generators are the same as without compilation.
* ``dynamic=False``: one graph per batch size (a reference step's batch 1 and a random step's
  batch 2 give two), per autograd mode (a discriminator update synthesises without autograd)
  and per function; no symbolic shapes.
* Derivatives of a derivative do not go through compiled graphs (AOTAutograd differentiates a
  graph once): the R1 penalty runs its discriminator pass under :func:`eager`, as the sample
  grids do (their batch would only add a compilation).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch

#: The ``torch.compile`` backend: inductor generates fused kernels (C++ on CPU, Triton on GPU).
BACKEND = "inductor"

#: Set on a module by :func:`compile_module`; removed by :func:`uncompile_module`.
_COMPILED_FEATURES = "_gan_adapt_compiled_features"


def compile_module(module: torch.nn.Module, backend: str | None = None) -> None:
    """Compile ``module``'s call (and its ``features`` method, if any) in place.

    The first call of each new shape or autograd mode compiles (seconds to minutes); later
    calls run the compiled graph. Parameters and buffers stay the module's own.
    """
    options = {"dynamic": False, "backend": backend or BACKEND}
    module.compile(**options)
    features = getattr(module, "features", None)
    if callable(features) and not hasattr(module, _COMPILED_FEATURES):
        # An instance attribute shadows the method: nn.Module.compile only covers __call__.
        module.features = torch.compile(features, **options)
        object.__setattr__(module, _COMPILED_FEATURES, True)


def uncompile_module(module: torch.nn.Module) -> None:
    """Undo :func:`compile_module` (before a ``copy.deepcopy``, or at the end of a phase)."""
    module._compiled_call_impl = None
    if module.__dict__.pop(_COMPILED_FEATURES, False):
        del module.features


def compile_networks(modules: Iterable[object], backend: str | None = None) -> None:
    """:func:`compile_module` on each ``torch.nn.Module`` of ``modules`` (others are skipped:
    a plugin's generator need not be a module)."""
    # Every module's compiled call is one code object (nn.Module._call_impl), whose cache holds
    # 8 graphs by default: G_t's four (batch 1 and 2, with and without autograd) and G_s's
    # would come close, and the surplus would run eagerly.
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 32)
    for module in modules:
        if isinstance(module, torch.nn.Module):
            compile_module(module, backend)


def uncompile_networks(modules: Iterable[object]) -> None:
    """:func:`uncompile_module` on each ``torch.nn.Module`` of ``modules``."""
    for module in modules:
        if isinstance(module, torch.nn.Module):
            uncompile_module(module)


@contextmanager
def eager() -> Iterator[None]:
    """Run compiled modules eagerly within this block (a no-op where nothing is compiled).

    For the code that differentiates twice (the R1 penalty), and for one-off calls whose new
    shapes would otherwise each compile a graph (sample grids).
    """
    with torch.compiler.set_stance("force_eager"):
        yield
