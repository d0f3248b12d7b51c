"""The attention keys of a ViT's transformer blocks: the features Splice's structure descriptor
compares.

A block's self-attention projects its (layer-normed) input tokens x to queries, keys and values
with one linear map, ``[q | k | v] = x W^T + b``; the keys are the middle third, ``k = x W_k^T +
b_k``, one row per token. Each third holds the heads side by side (head h in channels ``h d ..
(h + 1) d``), so that slice *is* the heads concatenated, as Splice concatenates them.

The keys are read where each library computes them, without changing the forward pass:

* timm's ``Attention`` (DINO): a forward hook on its ``qkv`` linear, keeping the output's middle
  third (Splice's own extractor hooks the same linear of DINO's ViT);
* open_clip's blocks: ``nn.MultiheadAttention`` (and open_clip's own ``Attention``) keep the
  projection in ``in_proj_weight``/``in_proj_bias`` and apply it inside their forward, so a
  forward pre-hook takes the attention's key input and applies the key rows of that projection.

Keys are taken before any per-head normalisation a model may add (``qk_norm``); the ViTs
Splice and the shipped encoders use have none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from gan_adapt.plugin import GanAdaptError
from gan_adapt_tokens.token_maps import _vision_tower, transformer_blocks


class AttentionKeys:
    """The keys ``[N, L, C]`` of chosen transformer blocks' self-attention: every token the
    block attends over (the class token first, then the patches, row-major), heads concatenated
    along ``C``.

    Args:
        encoder: a single-backbone gan-adapt encoder (CLIP or DINO) with a ViT vision tower.
        layers: transformer blocks, ``k >= 1`` block ``k``, negative numbers from the last
            (``-1``: the last).
        who: the term's name, for error messages.
    """

    def __init__(self, encoder: Any, layers: list[int], who: str) -> None:
        self.encoder = encoder
        self.who = who
        self.tower = _vision_tower(encoder, who)
        blocks = transformer_blocks(self.tower, who)
        #: 0-based indices of the blocks read, in the order of ``layers``
        self.block_indices = _resolve(layers, len(blocks), encoder, who)
        self._readers = {i: _key_reader(blocks[i].attn, who) for i in self.block_indices}

    def __call__(self, images: Tensor) -> list[Tensor]:
        """The keys of ``images`` (``[N, 3, H, W]`` in ``[-1, 1]``), one tensor per layer, in
        the order given, each ``[N, L, C]`` in float32."""
        pixels = self.encoder.preprocess(images).to(next(self.tower.parameters()).dtype)
        keys: dict[int, Tensor] = {}

        def keeper(index: int) -> Callable[[Tensor], None]:
            return lambda k: keys.__setitem__(index, k)

        handles = [reader(keeper(i)) for i, reader in self._readers.items()]
        try:  # run the tower up to the last block read; the hooks keep the keys
            self.tower.forward_intermediates(pixels, indices=[max(self._readers)],
                                             stop_early=True, intermediates_only=True)
        finally:
            for handle in handles:
                handle.remove()
        missing = sorted(set(self._readers) - set(keys))
        if missing:
            raise GanAdaptError(f"{self.who}: block(s) {[i + 1 for i in missing]} of "
                                f"{self.encoder.name!r} computed their attention without the "
                                "projection this term reads the keys from")
        return [keys[i].float() for i in self.block_indices]


def cosine_self_similarity(keys: Tensor, eps: float = 1e-8) -> Tensor:
    """``[N, L, L]`` cosine similarities between every pair of rows of ``keys`` ``[N, L, C]``
    (Splice's form: the dot products over the product of the norms, clamped at ``eps``)."""
    norms = keys.norm(dim=-1, keepdim=True)
    return (keys @ keys.transpose(1, 2)) / (norms @ norms.transpose(1, 2)).clamp_min(eps)


def _resolve(layers: list[int], depth: int, encoder: Any, who: str) -> list[int]:
    indices = []
    for layer in layers:
        if not (1 <= layer <= depth or -depth <= layer <= -1):
            what = ("the patch embedding, which has no attention keys" if layer == 0 else
                    "not a block")
            raise GanAdaptError(f"{who}: layer {layer} is {what}; {encoder.name!r} has {depth} "
                                f"blocks (1..{depth}, or -1..-{depth})")
        indices.append(layer - 1 if layer > 0 else depth + layer)
    if len(set(indices)) != len(indices):
        raise GanAdaptError(f"{who}: layers {layers} name the same block twice on "
                            f"{encoder.name!r} ({depth} blocks)")
    return indices


#: Installs the hooks that hand one block's keys ``[N, L, C]`` to a callback; returns a handle.
KeyReader = Callable[[Callable[[Tensor], None]], Any]


def _key_reader(attention: nn.Module, who: str) -> KeyReader:
    qkv = getattr(attention, "qkv", None)
    if isinstance(qkv, nn.Linear):  # timm: [q | k | v] is the output of one linear
        third = qkv.out_features // 3

        def read_qkv(keep: Callable[[Tensor], None]) -> Any:
            return qkv.register_forward_hook(
                lambda module, args, out: keep(out[..., third:2 * third]))
        return read_qkv
    if getattr(attention, "in_proj_weight", None) is not None:  # open_clip
        is_mha = isinstance(attention, nn.MultiheadAttention)
        seq_first = is_mha and not attention.batch_first

        def read_in_proj(keep: Callable[[Tensor], None]) -> Any:
            def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
                # nn.MultiheadAttention(query, key, value); open_clip's Attention(x)
                x = (args[1] if len(args) > 1 else kwargs["key"]) if is_mha else args[0]
                weight, bias = module.in_proj_weight, module.in_proj_bias  # read now: .to()
                third = weight.shape[0] // 3
                k = F.linear(x, weight[third:2 * third],
                             None if bias is None else bias[third:2 * third])
                keep(k.transpose(0, 1) if seq_first else k)
            return attention.register_forward_pre_hook(hook, with_kwargs=True)
        return read_in_proj
    raise GanAdaptError(f"{who}: the encoder's attention ({type(attention).__name__}) has "
                        "neither a qkv linear (timm) nor an in_proj_weight (open_clip), so its "
                        "keys cannot be read")

