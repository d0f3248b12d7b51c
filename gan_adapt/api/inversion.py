"""Finding the latent of an image in a generator (GAN inversion), for ``Run.translate``.

A translation maps an image of the source domain into the adapted one: invert it in the source
generator G_s, then synthesise the found latent with the adapted generator G_t. Both share
their latent space, so G_t(w) is "the same image" in the target domain.

The inversion here is deliberately simple and needs no pretrained network: Adam on a W+ latent
(one w per layer) from the average latent, minimising the pixel MSE plus a small pull towards
the average latent, which keeps w where the generator is well behaved. It reconstructs
layout and colours; faithful identity needs a perceptual loss (a recipe's ``[search]``).
"""

from __future__ import annotations

from typing import Any

import torch


def invert(G: Any, image: torch.Tensor, *, steps: int = 200, lr: float = 0.05,
           latent_weight: float = 1e-3) -> torch.Tensor:
    """The W+ latent ``[1, num_ws, w_dim]`` whose ``G.synthesis`` best matches ``image``.

    ``image`` is ``[1, 3, R, R]`` in ``[-1, 1]`` at the generator's resolution. Deterministic:
    the constant noise is used and nothing random is drawn.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    image = image.to(G.w_avg.device, torch.float32)
    w_avg = G.w_avg.detach().reshape(1, 1, -1).repeat(1, G.num_ws, 1)
    w = w_avg.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([w], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            reconstruction = G.synthesis(w, noise_mode="const")
            loss = torch.nn.functional.mse_loss(reconstruction, image) \
                + latent_weight * (w - w_avg).square().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return w.detach()
