"""Token self-similarity: the structure distance on a ViT's token maps (``token_self_similarity``).

    S_l(x)[i, j] = cos(t_l(x)_i, t_l(x)_j)            t_l: the patch tokens of layer l
    L(x, y) = mean over layers l of mean_ij (S_l(x)[i, j] - S_l(y)[i, j]) ** 2

Layer 0 is the patch embedding (the patchifying convolution's output), k >= 1 the residual
stream after block k; the class token is left out. The default reads layers 0 and 2.

It adapts the idea of Splice's structure descriptor (Tumanyan, Bar-Tal, Bagon & Dekel,
"Splicing ViT Features for Semantic Appearance Transfer", CVPR 2022) and departs from it:

* Splice compares the self-similarity of the last block's attention *keys* (DINO ViT-B/8),
  class token included; this term compares residual-stream tokens and the raw patch embedding,
  without the class token. :mod:`.key_self_similarity` is Splice's descriptor.
* The patch embedding is a linear map of each pixel patch: its self-similarity compares pixel
  patches, which Splice's argument (deep keys carry layout, not appearance) does not cover; an
  inverted image keeps it exactly (cos(-a, -b) = cos(a, b)), a recoloured one does not in
  general.

A token changes with the image's appearance; how similar it is to the image's other tokens much
less. On the quality benchmark the search with it found G_s(w_ref) at LPIPS 0.41 from x0 on
average over the five transforms, against 0.98 with the paper's objectives (docs/benchmark.md).
"""

from __future__ import annotations

from torch import Tensor

from gan_adapt.plugin import BuildContext, Step
from gan_adapt_tokens.params import SelfSimilarityParams
from gan_adapt_tokens.structure import StructureDistance
from gan_adapt_tokens.token_maps import TokenMaps, self_similarity


class TokenSelfSimilarity(StructureDistance):
    """Structure distance on token maps: Splice's idea, not its key descriptor."""

    Params = SelfSimilarityParams
    name = "token_self_similarity"

    def __init__(self, params: SelfSimilarityParams, ctx: BuildContext) -> None:
        self.maps = TokenMaps(ctx.encoder(params.encoder), params.layers, self.name)
        super().__init__(self.describe_tokens, ctx, self.name)

    def describe_tokens(self, images: Tensor) -> list[Tensor]:
        return [self_similarity(m) for m in self.maps(images)]

    def describe_step(self, step: Step, image: str) -> list[Tensor]:
        """As :meth:`describe_tokens`, from the token maps the step shares with other terms."""
        return [self_similarity(m) for m in self.maps.of(step, image)]

    def request_embeddings(self, step: Step) -> None:
        """Announce the token maps read at this step: the step computes each image's once."""
        self.maps.request(step, "fake")
        if step.phase != "search":
            self.maps.request(step, "source")


class SelfSimilarity(TokenSelfSimilarity):
    """Old name of token_self_similarity, kept for recipes (not Splice's descriptor).

    Splice's key self-similarity is ``key_self_similarity``.
    """

    name = "self_similarity"
