"""Several CLIP models as one encoder (StyleGAN-NADA and Mind the Gap use ViT-B/32 + ViT-B/16).

The ensemble's embedding is the concatenation of the members' unit embeddings, each scaled by
``sqrt(w_i)`` with the weights normalised to sum to one. It is itself a unit vector, and

    cos(ensemble(a), ensemble(b)) = sum_i w_i * cos(member_i(a), member_i(b)),

so a loss that is linear in cosine similarity (``1 - cos``, image-text similarity) computed once
on ensemble embeddings *equals* the weighted average of that loss over the members, which is
what those papers average. Losses that are not linear in the similarities (a directional loss
normalises an embedding *difference*) should loop over :attr:`ClipEnsemble.members` and
average; ``members`` and ``weights`` are public for exactly that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from gan_adapt.encoders.base import EncoderBase, crop_patches


class ClipEnsemble(nn.Module):
    """Weighted CLIP members behind the :class:`~gan_adapt.encoders.base.ImageEncoder` API."""

    def __init__(self, members: Sequence[EncoderBase],
                 weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if not members:
            raise ValueError("ClipEnsemble needs at least one member")
        raw = [1.0] * len(members) if weights is None else [float(w) for w in weights]
        if len(raw) != len(members) or any(w <= 0 for w in raw):
            raise ValueError("ClipEnsemble: one positive weight per member")
        total = sum(raw)
        self.members = nn.ModuleList(members)
        self.weights: tuple[float, ...] = tuple(w / total for w in raw)
        self.input_size = max(m.input_size for m in members)  # the largest; each resizes itself
        self.embed_dim = sum(m.embed_dim for m in members)

    def join(self, parts: Sequence[Tensor]) -> Tensor:
        """The ensemble embedding ``[..., sum D_i]`` of the members' unit embeddings ``parts``
        (in member order): each scaled by ``sqrt(w_i)`` and concatenated. Public so that a caller
        which embedded through the members (the step's shared batches) can assemble it."""
        return torch.cat([math.sqrt(w) * p for w, p in zip(self.weights, parts)], dim=-1)

    def embed_images(self, x: Tensor) -> Tensor:
        return self.join([m.embed_images(x) for m in self.members])

    def embed_patches(self, x: Tensor, boxes: Tensor) -> Tensor:
        crops = crop_patches(x, boxes)  # cropped once, resized by each member
        n, p = crops.shape[:2]
        return self.embed_images(crops.flatten(0, 1)).unflatten(0, (n, p))

    def embed_many(self, groups: Sequence[Tensor], grad: Sequence[bool]) -> list[Tensor]:
        per_member = [m.embed_many(groups, grad) for m in self.members]
        return [self.join(parts) for parts in zip(*per_member)]

    def embed_pair(self, source: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        src, tgt = self.embed_many([source, target], [False, True])
        return src, tgt

    def embed_text(self, texts: Sequence[str]) -> Tensor:
        return self.join([m.embed_text(texts) for m in self.members])

    def train(self, mode: bool = True) -> ClipEnsemble:
        """Stays in eval mode, like its members."""
        return super().train(False)


def build_clip_ensemble(members: Sequence[Mapping[str, Any]],
                        device: torch.device | str = "cpu") -> ClipEnsemble:
    """Build each member with :func:`~gan_adapt.encoders.clip.build_clip`.

    Each mapping holds ``build_clip`` keyword arguments plus an optional ``weight`` (default 1).
    """
    from gan_adapt.encoders.clip import build_clip

    encoders, weights = [], []
    for spec in members:
        kwargs = dict(spec)
        weights.append(float(kwargs.pop("weight", 1.0)))
        encoders.append(build_clip(**kwargs, device=device))
    return ClipEnsemble(encoders, weights)
