"""Token analogy: the reference pair G_s(w_ref) -> target, applied token by token to every
sample (``token_analogy``; ``attentive_style`` is its old name).

The search gives a pair: G_s(w_ref), a source image with the target's content, and the target
image I_ref. Token by token, the pair says how each kind of source content looks in the target
domain. For a sample w, each token of G_s(w) attends over the tokens of G_s(w_ref) (softmax of
cosine similarities / temperature); the same weights over I_ref's tokens give what that token
should become, and G_t(w)'s token there is pulled towards it:

    A = softmax(t(G_s(w)) t(G_s(w_ref))^T / tau)          [P, P] per sample and layer
    L = mean over layers, positions of || t(G_t(w)) - unit(A t(I_ref)) ||^2

(t: unit-normalised patch tokens of one layer, class token left out; layer 0 is the patch
embedding.) Hair becomes the target's hair, skin the target's skin, wherever they are in the
sample. As tau -> 0 each token copies the target token at the position where G_s(w_ref) is most
like it; large tau blends towards the mean target token.

This is not DiFa's attentive style loss (Zhang et al., NeurIPS 2022), though it was first
shipped under that name. DiFa matches G_t(w)'s tokens to the target's by a relaxed earth-mover's
distance: no G_s(w), no G_s(w_ref), no softmax or temperature, no dependence on position, the 4th
block's output tokens (:mod:`.difa_style`). This term instead needs the searched pair, compares
positions through G_s(w_ref)'s correspondence, and by default reads the patch embedding and
block 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_adapt.plugin import BuildContext, GanAdaptError, Step
from gan_adapt_tokens.params import TokenAnalogyParams
from gan_adapt_tokens.token_maps import TokenMaps, frozen_maps


class TokenAnalogy:
    """Each token of G_t(w) becomes the target's token where G_s(w_ref) looks like G_s(w)."""

    Params = TokenAnalogyParams
    name = "token_analogy"

    def __init__(self, params: TokenAnalogyParams, ctx: BuildContext) -> None:
        if ctx.target.image is None:
            raise GanAdaptError(f"{self.name} needs a target image (target.image)")
        self.maps = TokenMaps(ctx.encoder(params.encoder), params.layers, self.name)
        self.temperature = params.temperature
        self.values = [v.flatten(2).transpose(1, 2)  # [1, P, C] per layer
                       for v in frozen_maps(self.maps, ctx.target.image)]
        self.keys: list[torch.Tensor] | None = None  # G_s(w_ref)'s tokens, on the first step

    def request_embeddings(self, step: Step) -> None:
        """Announce the token maps read below: the step computes each image's once."""
        self.maps.request(step, "source")
        self.maps.request(step, "fake")

    def __call__(self, step: Step) -> torch.Tensor:
        if step.w_ref is None:
            raise GanAdaptError(f"{self.name} needs the searched latent w_ref: add a "
                                "[search] section to the recipe")
        if self.keys is None:  # w_ref is fixed for the whole adaptation
            self.keys = [k.flatten(2).transpose(1, 2)
                         for k in frozen_maps(self.maps, step.source_reference)]
        queries = self.maps.of(step, "source")
        adapted = self.maps.of(step, "fake")
        parts = []
        for query, key, value, got in zip(queries, self.keys, self.values, adapted):
            q = query.flatten(2).transpose(1, 2)  # [N, P, C]
            attention = torch.softmax(q @ key.transpose(1, 2) / self.temperature, dim=-1)
            wanted = F.normalize(attention @ value, dim=-1)  # [N, P, C]
            got = got.flatten(2).transpose(1, 2)
            parts.append((got - wanted).square().sum(dim=-1).mean())
        return torch.stack(parts).mean()
