"""Cross-domain distance consistency (Ojha et al. 2021, Eq. 2).

For N latents rendered by both generators (same latents, same noise), every sample i picks one
intermediate layer l_i at random; at that layer its features are compared (cosine) with the
other samples' features, in each generator:

    s^s_i = softmax_j!=i cos(F^s_l_i(i), F^s_l_i(j)),   s^t_i likewise for G_t

    L = sum_i KL(s^s_i || s^t_i) / (N (N - 1))

The normalisation is the reference implementation's (PyTorch's KLDivLoss with its default
element-wise mean), so its weight of 1000 carries over. Layers are the styled convolutions in
W+ order (:meth:`StyleGAN2Generator.synthesis` with ``return_features=True``); by default every
one but the first (4x4) can be drawn, as in the reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_adapt.plugin import BuildContext, GanAdaptError, Step, off_diagonal
from gan_adapt_cdc.params import CrossDomainConsistencyParams


def pairwise_cosine(features: torch.Tensor) -> torch.Tensor:
    """``[N, N]`` cosine similarities of the flattened rows of ``features`` ``[N, ...]``."""
    flat = F.normalize(features.flatten(1), dim=1)
    return flat @ flat.t()


def row_similarities(features: list[torch.Tensor], layer_of_row: list[int]) -> torch.Tensor:
    """``[N, N-1]``: row i holds sample i's similarities to the others at layer
    ``layer_of_row[i]``."""
    matrices = {layer: pairwise_cosine(features[layer]) for layer in set(layer_of_row)}
    rows = torch.stack([matrices[layer][i] for i, layer in enumerate(layer_of_row)])
    return off_diagonal(rows)


def distance_consistency(source: torch.Tensor, adapted: torch.Tensor) -> torch.Tensor:
    """Element-wise mean of KL(softmax(source rows) || softmax(adapted rows))."""
    p = F.softmax(source, dim=1)
    return F.kl_div(F.log_softmax(adapted, dim=1), p, reduction="sum") / p.numel()


class CrossDomainConsistency:
    """KL consistency of pairwise intermediate-feature similarities, G_s against G_t."""

    Params = CrossDomainConsistencyParams

    def __init__(self, params: CrossDomainConsistencyParams, ctx: BuildContext) -> None:
        layers = getattr(getattr(ctx.generator, "synthesis", None), "noise_layers", None)
        if not callable(layers):
            raise GanAdaptError("cdc_consistency needs a StyleGAN2-style generator whose "
                                "synthesis can return its intermediate features")
        count = len(layers())
        self.layers = params.layers if params.layers is not None else list(range(1, count))
        bad = [i for i in self.layers if not 0 <= i < count]
        if bad or not self.layers:
            raise GanAdaptError(f"cdc_consistency: layers {bad or self.layers} do not exist; "
                                f"this generator has feature indices 0..{count - 1}")
        self.batch = params.batch

    def __call__(self, step: Step) -> torch.Tensor:
        G_s, G_t = step.source_generator, step.generator
        if self.batch is None:
            ws, noise = step.ws, step.noise
        else:
            with torch.no_grad():
                z = torch.randn(self.batch, G_s.z_dim, device=step.ws.device)
                ws = G_s.mapping(z)
            noise = G_s.make_noise(self.batch, device=ws.device)
        n = ws.shape[0]
        if n < 3:
            raise GanAdaptError(f"cdc_consistency compares each sample with at least two others "
                                f"and needs 3 or more latents; step kind {step.kind!r} has "
                                f"{n} (set the term's batch)")
        picks = torch.randint(len(self.layers), (n,)).tolist()
        layer_of_row = [self.layers[i] for i in picks]
        with torch.no_grad():  # noise=None: the generators' constant noise
            _, source = G_s.synthesis(ws, noise_mode="const", noise=noise, return_features=True)
        _, adapted = G_t.synthesis(ws, noise_mode="const", noise=noise, return_features=True)
        return distance_consistency(row_similarities(source, layer_of_row),
                                    row_similarities(adapted, layer_of_row))
