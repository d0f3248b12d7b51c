"""Splice's structure descriptor: the self-similarity of a ViT's attention keys
(``key_self_similarity``; Tumanyan, Bar-Tal, Bagon & Dekel, "Splicing ViT Features for Semantic
Appearance Transfer", CVPR 2022; official code omerbt/Splice).

    K(x) = the keys of the last block's self-attention, [L, C]: every token, the class token
           included, heads concatenated (C = heads x head width)
    S(x)[i, j] = cos(K(x)_i, K(x)_j)
    L(x, y) = mean_ij (S(x)[i, j] - S(y)[i, j]) ** 2          (the mean over samples)

Splice reads DINO ViT-B/8's last block (the 12th) at 224 px: 28 x 28 patches + the class
token. Keys of deep blocks encode *where* a part of the object is and what it is, little how it
is drawn (Splice's finding), so their self-similarity is the image's layout, kept under a change
of appearance.

On the shipped portraits CLIP (4 blocks, 32 px, 8 x 8 patches + the class token, 4 heads of
width 32) the keys of its last block are the analogue of Splice's DINO ViT-B/8 keys at 224 px:
the same descriptor on a smaller network trained for another task (contrastive image-text, not
DINO's self-distillation), so Splice's finding that its keys ignore appearance is not
established for it. Any other encoder and block can be chosen (``encoder``, ``layers``);
several blocks give the mean of their distances (Splice uses one).

As a search objective it compares G_s(w) with the target image; as a loss G_t(w) with G_s(w)
(Splice: the output with the structure image). Splice sums its loss over its crops; here the
mean over the batch is taken, which only rescales the weight.
"""

from __future__ import annotations

from torch import Tensor

from gan_adapt.plugin import BuildContext
from gan_adapt_tokens.attention_keys import AttentionKeys, cosine_self_similarity
from gan_adapt_tokens.params import KeySelfSimilarityParams
from gan_adapt_tokens.structure import StructureDistance


class KeySelfSimilarity(StructureDistance):
    """Splice's structure distance (self-similarity of the last block's attention keys)."""

    Params = KeySelfSimilarityParams
    name = "key_self_similarity"

    def __init__(self, params: KeySelfSimilarityParams, ctx: BuildContext) -> None:
        self.keys = AttentionKeys(ctx.encoder(params.encoder), params.layers, self.name)
        super().__init__(self.describe_keys, ctx, self.name)

    def describe_keys(self, images: Tensor) -> list[Tensor]:
        return [cosine_self_similarity(k) for k in self.keys(images)]
