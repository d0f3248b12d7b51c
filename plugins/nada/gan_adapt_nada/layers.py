"""StyleGAN-NADA's adaptive layer selection: before a step, find which layers matter most.

A batch of W+ codes of the source generator is optimised for a few SGD steps towards the
target in CLIP space (through the *adapted* generator). The layers whose codes moved most are
the ones the target needs; only those are trained at that step (the rest keep their weights).

W+ index ``i`` is read by the ``i``-th styled convolution (the last index, read only by the
final ToRGB, is not a candidate). The reference maps its indices onto the rosinality module
list, which shifts every convolution past the first by one code; here each code selects the
convolution that actually reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gan_adapt.plugin import GanAdaptError
from gan_adapt_nada.params import AdaptiveLayers

__all__ = ["AdaptiveLayers", "conv_layers", "select_layers"]


def conv_layers(generator: Any) -> list[torch.nn.Module]:
    """The generator's styled convolutions in W+ order (``synthesis.noise_layers()``)."""
    layers = getattr(getattr(generator, "synthesis", None), "noise_layers", None)
    if not callable(layers):
        raise GanAdaptError("adaptive layer selection needs a StyleGAN2-style generator whose "
                            "synthesis network lists its styled convolutions (noise_layers())")
    return list(layers())


def code_movement(source: Any, adapted: Any, goal_loss: Callable[[torch.Tensor], torch.Tensor],
                  settings: AdaptiveLayers) -> torch.Tensor:
    """``[num_ws]``: mean absolute change of each W+ code after ``settings.iters`` SGD steps
    of ``goal_loss(adapted.synthesis(w))`` from random codes of ``source``."""
    device = source.w_avg.device
    with torch.no_grad():
        start = source.mapping(torch.randn(settings.batch, source.z_dim, device=device))
    w = start.clone().requires_grad_(True)
    for _ in range(settings.iters):
        loss = goal_loss(adapted.synthesis(w, noise_mode="const"))
        (grad,) = torch.autograd.grad(loss, w)  # no gradient reaches the generator's weights
        w = (w - settings.lr * grad).detach().requires_grad_(True)
    return (w.detach() - start).abs().mean(-1).mean(0)


def top_layers(movement: torch.Tensor, n_layers: int, k: int) -> list[int]:
    """Indices (ascending) of the ``k`` layers among the first ``n_layers`` codes that moved
    most."""
    k = min(k, n_layers)
    return sorted(torch.topk(movement[:n_layers], k).indices.tolist())


def select_layers(source: Any, adapted: Any, goal_loss: Callable[[torch.Tensor], torch.Tensor],
                  settings: AdaptiveLayers) -> list[torch.nn.Parameter]:
    """Parameters of the chosen styled convolutions of ``adapted`` (one selection)."""
    layers = conv_layers(adapted)
    chosen = top_layers(code_movement(source, adapted, goal_loss, settings), len(layers),
                        settings.k)
    return [p for i in chosen for p in layers[i].parameters()]
