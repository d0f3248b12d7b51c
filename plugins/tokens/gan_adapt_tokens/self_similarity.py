"""The self-similarity structure distance (Splice: Tumanyan et al. 2022).

    S_l(x)[i, j] = cos(t_l(x)_i, t_l(x)_j)            t_l: the tokens of layer l, i, j positions
    L_struct(x, y) = mean over layers l of mean_ij (S_l(x)[i, j] - S_l(y)[i, j]) ** 2

A token changes with the image's appearance; how similar it is to the image's other tokens much
less: an inverted or posterised face still has its hair tokens alike and unlike its skin tokens.
So the distance compares *what is where* and ignores *how it is drawn*.

* In the search it compares G_s(w) with the target image: the search then finds the source
  latent with the target's content, where pixel and CLIP objectives find the source latent that
  *looks* most like the target (for an inverted face, a different, dark-haired one). On the
  quality benchmark: LPIPS(G_s(w_ref), x0) 0.41 on average over the five transforms, against
  0.98 with the paper's objectives (docs/benchmark.md).
* In the adaptation it compares G_t(w) with G_s(w): each sample keeps its layout while its
  appearance changes (Splice's structure loss).
"""

from __future__ import annotations

import torch

from gan_adapt.plugin import BuildContext, GanAdaptError, Step
from gan_adapt_tokens.params import SelfSimilarityParams
from gan_adapt_tokens.token_maps import TokenMaps, frozen_maps, self_similarity


class SelfSimilarity:
    """Structure distance: to the target image in the search, to G_s(w) in the adaptation."""

    Params = SelfSimilarityParams

    def __init__(self, params: SelfSimilarityParams, ctx: BuildContext) -> None:
        self.maps = TokenMaps(ctx.encoder(params.encoder), params.layers, "self_similarity")
        self.target: list[torch.Tensor] | None = None
        if ctx.target.image is not None:
            self.target = [self_similarity(m)
                           for m in frozen_maps(self.maps, ctx.target.image)]

    def __call__(self, step: Step) -> torch.Tensor:
        if step.phase == "search":
            if self.target is None:
                raise GanAdaptError("self_similarity in the search needs a target image "
                                    "(target.image)")
            wanted = self.target
        else:
            wanted = [self_similarity(m) for m in frozen_maps(self.maps, step.source)]
        got = [self_similarity(m) for m in self.maps(step.fake)]
        parts = [(g - w).square().mean() for g, w in zip(got, wanted)]  # w broadcasts over N
        return torch.stack(parts).mean()
