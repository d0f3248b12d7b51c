"""CLIP-space helpers for directional losses: ensemble members, domain directions, the loss.

A directional loss normalises an embedding *difference*, which is not linear in the cosine
similarities, so for a CLIP ensemble it is computed per member and averaged with the members'
weights (:func:`members`), as StyleGAN-NADA and Mind the Gap average their CLIP models.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def members(encoder: Any) -> list[tuple[Any, float]]:
    """``(encoder, weight)`` pairs: an ensemble's members with their normalised weights, or the
    encoder itself with weight 1."""
    inner = getattr(encoder, "members", None)
    if inner is None:
        return [(encoder, 1.0)]
    return list(zip(inner, encoder.weights))


def unit(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to length one."""
    return F.normalize(x, dim=-1)


def mean_direction(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``[1, D]`` unit direction from the mean of ``source`` rows to the mean of ``target`` rows."""
    return unit(target.mean(0, keepdim=True) - source.mean(0, keepdim=True))


def directional_loss(delta: torch.Tensor, direction: torch.Tensor,
                     min_norm: float) -> torch.Tensor:
    """Mean over rows of ``1 - cos(delta_i, direction_i)``; ``direction`` is ``[1, D]`` or one
    unit row per ``delta`` row.

    A row of ``delta`` shorter than ``min_norm`` is divided by ``min_norm`` instead of its own
    length. gan-adapt renders G_s and G_t with the same noise, so at step 0 the edit direction
    is exactly zero (StyleGAN-NADA's different noise per generator hid this); dividing by the
    tiny length would make the first gradient explode, and Adam would then stall for hundreds
    of steps while its second moment decays. Above ``min_norm`` this is the plain cosine.
    """
    length = delta.norm(dim=-1, keepdim=True).clamp_min(min_norm)
    return (1 - ((delta / length) * direction).sum(-1)).mean()
