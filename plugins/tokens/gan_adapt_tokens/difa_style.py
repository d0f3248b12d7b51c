"""DiFa's attentive style loss (``difa_attentive_style``; Zhang, Yao, Wei, Ji, Bai & Zuo,
"Towards Diverse and Faithful One-shot Adaption of Generative Adversarial Networks", NeurIPS
2022; official code YBYBZhang/DiFa, ``remd_loss``): a relaxed earth-mover's distance between
the adapted image's tokens and the target image's.

    x_1..x_P: the unit-normalised patch tokens of G_t(w); y_1..y_Q: those of the target image
    C[i, j] = 1 - cos(x_i, y_j)
    L = max( mean_i min_j C[i, j],  mean_j min_i C[i, j] )          per sample
    (then the mean over samples, and over layers if several are read)

Every token of the sample takes its nearest target token, and every target token its nearest
sample token; the loss is the larger of the two mean costs. The first direction asks that the
sample use only the target's kinds of tokens (its style); the second that it use all of them.
Neither direction looks at positions, so the sample may put the target's hair texture wherever
its own hair is. No temperature, and neither G_s(w) nor the searched G_s(w_ref) is needed.

Tokens are the output of one transformer block with the class token left out: DiFa reads the
4th block (its ``clip_layer = 3``, counted from 0) of CLIP ViT-B/32 and ViT-B/16, with weight
1.5 on each. Here the block is ``layers`` (default 4, the output of the 4th block: the last one
of the shipped 4-block portraits CLIP, so on it this reads deeper, relative to the network, than
DiFa does on a 12-block ViT-B). Departures, all opt-in: ``layers = [0]`` reads the patch
embedding, which DiFa never uses; several layers average their distances. DiFa's optional
content term (``lambda_content``, off in its scripts) and its selective cross-domain
consistency are separate terms, not part of this one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gan_adapt.plugin import BuildContext, GanAdaptError, Step
from gan_adapt_tokens.params import DifaAttentiveStyleParams
from gan_adapt_tokens.token_maps import TokenMaps, frozen_maps


class DifaAttentiveStyle:
    """DiFa's attentive style loss: relaxed EMD from G_t(w)'s tokens to the target's."""

    Params = DifaAttentiveStyleParams
    name = "difa_attentive_style"

    def __init__(self, params: DifaAttentiveStyleParams, ctx: BuildContext) -> None:
        if ctx.target.image is None:
            raise GanAdaptError(f"{self.name} needs a target image (target.image)")
        self.maps = TokenMaps(ctx.encoder(params.encoder), params.layers, self.name)
        self.style = [_rows(m) for m in frozen_maps(self.maps, ctx.target.image)]  # [1, Q, C]

    def request_embeddings(self, step: Step) -> None:
        """Announce the token maps read below: the step computes them once for all terms."""
        self.maps.request(step, "fake")

    def __call__(self, step: Step) -> Tensor:
        parts = [relaxed_emd(_rows(m), style)
                 for m, style in zip(self.maps.of(step, "fake"), self.style)]
        return torch.stack(parts).mean()


def relaxed_emd(tokens: Tensor, style: Tensor) -> Tensor:
    """The relaxed earth-mover's distance, averaged over samples, between unit token sets
    ``tokens`` ``[N, P, C]`` and ``style`` ``[N or 1, Q, C]``: per sample the larger of the
    mean nearest-neighbour costs (1 - cosine) in the two directions."""
    cost = 1 - tokens @ style.transpose(1, 2)  # [N, P, Q]
    each_token = cost.min(dim=2).values.mean(dim=1)  # every token to its nearest style token
    each_style = cost.min(dim=1).values.mean(dim=1)  # every style token to its nearest token
    return torch.maximum(each_token, each_style).mean()


def _rows(token_map: Tensor) -> Tensor:
    """``[N, C, g, g]`` -> ``[N, g * g, C]``."""
    return token_map.flatten(2).transpose(1, 2)
