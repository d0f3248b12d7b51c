"""II2S's latent prior (Zhu et al. 2020, "Improved StyleGAN Embedding: Where are the Good
Latents?"), the regulariser of Mind the Gap's inversion of the target image.

The mapping network ends in a leaky ReLU of slope 0.2, so W is a warped space; a leaky ReLU of
slope 5 undoes the warp (the "P space"), where codes are close to Gaussian. Whitened by PCA
(``P_N`` space), a typical code has unit variance in every direction, and

    L_p(w) = mean over layers and components of ((lrelu_5(w) - mu) . c_j / sigma_j)^2

penalises codes that leave the generator's distribution. mu, c_j and sigma_j come from
``n_samples`` mapped random z, computed once when the term is built.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_adapt.plugin import BuildContext, GanAdaptError, Step
from gan_adapt_mtg.params import PNormL2Params


class PCAStats:
    """Mean ``[D]``, components ``[D, D]`` (rows) and standard deviations ``[D]`` of P-space
    codes."""

    def __init__(self, mean: torch.Tensor, components: torch.Tensor, std: torch.Tensor) -> None:
        self.mean, self.components, self.std = mean, components, std

    @classmethod
    def fit(cls, codes: torch.Tensor) -> PCAStats:
        """PCA of the rows of ``codes`` ``[M, D]`` (in float64 for a stable covariance)."""
        x = codes.double()
        mean = x.mean(0)
        centred = x - mean
        covariance = centred.t() @ centred / max(1, x.shape[0] - 1)
        variances, vectors = torch.linalg.eigh(covariance)  # ascending
        floor = variances.max().clamp_min(1e-30) * 1e-12  # degenerate directions stay finite
        std = variances.clamp_min(floor).sqrt()
        return cls(mean.float(), vectors.t().float(), std.float())

    def whiten(self, codes: torch.Tensor) -> torch.Tensor:
        """``[..., D]`` P-space codes -> ``[..., D]`` PCA-whitened coordinates."""
        return (codes - self.mean) @ self.components.t() / self.std


class PNormL2:
    """II2S prior: mean squared norm of the W+ codes in the PCA-whitened P space."""

    Params = PNormL2Params

    def __init__(self, params: PNormL2Params, ctx: BuildContext) -> None:
        G = ctx.generator
        if getattr(G, "c_dim", 0):
            raise GanAdaptError("pnorm_l2 fits its statistics on unconditional samples; this "
                                "generator is conditional")
        self.slope = params.negative_slope
        gen = torch.Generator().manual_seed(params.seed)
        codes = []
        with torch.no_grad():
            for start in range(0, params.n_samples, 10_000):
                z = torch.randn(min(10_000, params.n_samples - start), G.z_dim, generator=gen)
                w = G.mapping(z.to(G.w_avg.device))[:, 0]
                codes.append(F.leaky_relu(w, self.slope).cpu())
        stats = PCAStats.fit(torch.cat(codes))
        device = ctx.device
        self.stats = PCAStats(stats.mean.to(device), stats.components.to(device),
                              stats.std.to(device))

    def __call__(self, step: Step) -> torch.Tensor:
        return self.stats.whiten(F.leaky_relu(step.ws, self.slope)).pow(2).mean()
