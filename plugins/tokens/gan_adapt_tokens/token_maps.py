"""Spatial token maps of a ViT encoder: the features every term of this plugin compares.

A gan-adapt encoder (:class:`gan_adapt.encoders.base.EncoderBase`) embeds whole images; the
terms here need its vision transformer's *tokens*, one feature vector per image patch. Both
open_clip's ``VisionTransformer`` (``encoder.model.visual``) and timm's (``encoder.model``,
DINO) expose them through ``forward_intermediates``; the patch embedding is the tower's
patchifying convolution (``conv1`` in open_clip, ``patch_embed.proj`` in timm).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_adapt.plugin import GanAdaptError

#: What the maps a step shares are (``Step.feature_maps``): unit-normalised ViT tokens.
SHARED_KIND = "gan_adapt_tokens:unit_tokens"


class TokenMaps:
    """Unit-normalised token maps ``[N, C, g, g]`` of chosen layers of an encoder's ViT.

    Args:
        encoder: a single-backbone gan-adapt encoder (CLIP or DINO) with a ViT vision tower.
        layers: 0 the patch embedding, ``k >= 1`` the output of transformer block ``k``,
            negative numbers from the last block (``-1``: the last).
        who: the term's name, for error messages.
    """

    def __init__(self, encoder: Any, layers: list[int], who: str) -> None:
        self.encoder = encoder
        self.who = who
        self.tower = _vision_tower(encoder, who)
        depth = _depth(self.tower, who)
        blocks = []
        for layer in layers:
            index = layer if layer >= 0 else depth + 1 + layer  # -1: block `depth`
            if not (0 <= layer <= depth or 1 <= index <= depth):
                raise GanAdaptError(f"{who}: layer {layer} does not exist; {encoder.name!r} has "
                                    f"the patch embedding (0) and {depth} blocks "
                                    f"(1..{depth}, or -1..-{depth})")
            if index in blocks:  # e.g. 4 and -1 of a 4-block tower: one map counted twice
                raise GanAdaptError(f"{who}: layers {layers} name map {index} twice ("
                                    f"{encoder.name!r} has {depth} blocks, so negative layers "
                                    f"count back from {depth}); list each map once")
            blocks.append(index)
        self.layers = blocks
        self.patchify = _patchify(self.tower, who) if 0 in blocks else None
        #: 0-based indices of the transformer blocks to read, each once, in order
        self.block_indices = sorted({layer - 1 for layer in blocks if layer > 0})

    def __call__(self, images: Tensor) -> list[Tensor]:
        """The maps of ``images`` (``[N, 3, H, W]`` in ``[-1, 1]``), one per layer, in the
        order given, each ``[N, C, g, g]`` with unit-length tokens (along ``C``)."""
        pixels = self.encoder.preprocess(images).to(next(self.tower.parameters()).dtype)
        by_layer: dict[int, Tensor] = {}
        if self.patchify is not None:
            by_layer[0] = self.patchify(pixels)
        if self.block_indices:
            out = self.tower.forward_intermediates(pixels, indices=self.block_indices,
                                                   intermediates_only=True, output_fmt="NCHW")
            maps = out["image_intermediates"] if isinstance(out, dict) else out
            by_layer.update(zip((i + 1 for i in self.block_indices), maps))
        return [F.normalize(by_layer[layer].float(), dim=1) for layer in self.layers]

    def of(self, step: Any, image: str) -> list[Tensor]:
        """The maps of the step's ``image`` (``"fake"``, ``"source"``, ...), as ``__call__``
        makes them (without autograd for the constant images), shared with every term of the
        step that reads this encoder's tokens: one forward per image, for all their layers."""
        return step.feature_maps(self.encoder, image, self.layers, SHARED_KIND,
                                 self._of_layers)

    def request(self, step: Any, image: str) -> None:
        """Announce that :meth:`of` will read ``image`` in this step (before any term does)."""
        step.request_feature_maps(self.encoder, image, self.layers, SHARED_KIND)

    def _of_layers(self, images: Tensor, layers: list[int]) -> list[Tensor]:
        return TokenMaps(self.encoder, layers, self.who)(images)


def self_similarity(tokens: Tensor) -> Tensor:
    """``[N, P, P]`` cosine similarities between every pair of positions of unit-token maps
    ``[N, C, g, g]`` (``P = g * g``)."""
    flat = tokens.flatten(2)  # [N, C, P]
    return flat.transpose(1, 2) @ flat


def _vision_tower(encoder: Any, who: str) -> nn.Module:
    if not hasattr(encoder, "preprocess"):
        raise GanAdaptError(f"{who} needs a single ViT encoder (a CLIP or DINO); "
                            f"{getattr(encoder, 'name', type(encoder).__name__)!r} is not one "
                            "(an ensemble has no single token grid)")
    model = getattr(encoder, "model", None)
    tower = getattr(model, "visual", model)
    if tower is None or not hasattr(tower, "forward_intermediates"):
        raise GanAdaptError(f"{who} needs a vision transformer with token outputs; the "
                            f"encoder {encoder.name!r} has none (a ResNet CLIP?)")
    return tower


def _patchify(tower: nn.Module, who: str) -> nn.Module:
    conv = getattr(tower, "conv1", None)
    if conv is None and hasattr(tower, "patch_embed"):
        conv = getattr(tower.patch_embed, "proj", None)
    if not isinstance(conv, nn.Conv2d):
        raise GanAdaptError(f"{who}: the encoder's vision tower has no patchifying convolution "
                            "(conv1 or patch_embed.proj), so layer 0 is not available")
    return conv


def _depth(tower: nn.Module, who: str) -> int:
    return len(transformer_blocks(tower, who))


def transformer_blocks(tower: nn.Module, who: str) -> Any:
    """The tower's transformer blocks, in order (open_clip: ``transformer.resblocks``; timm:
    ``blocks``)."""
    blocks = getattr(getattr(tower, "transformer", None), "resblocks", None)
    if blocks is None:
        blocks = getattr(tower, "blocks", None)
    if blocks is None:
        raise GanAdaptError(f"{who}: cannot find the transformer blocks of the encoder's tower")
    return blocks


def frozen_maps(maps: TokenMaps, images: Tensor) -> list[Tensor]:
    """``maps(images)`` without autograd (constants: the target, G_s's images)."""
    with torch.no_grad():
        return maps(images)
