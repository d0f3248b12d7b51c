"""Finding the latent of an image in a generator (GAN inversion), for translations.

A translation maps an image of the source domain into the adapted one: invert it in the source
generator G_s, then synthesise the found latent with the adapted generator G_t. Both share
their latent space, so G_t(w) is "the same image" in the target domain. ``Run.translate`` and
``gan-adapt translate`` both call :func:`invert` (one implementation, the same defaults).

The objective is Adam on a W+ latent (one w per layer; or one w for all, ``space="w"``) from
the average latent: the pixel MSE, plus a small pull towards the average latent, which keeps w
where the generator is well behaved, plus optionally a perceptual distance (``distance``, e.g.
the run's LPIPS; faithful identity needs one) and a CLIP term. Without a perceptual distance it
needs no pretrained network and reconstructs layout and colours.
"""

from __future__ import annotations

from typing import Any

import torch

#: Defaults shared by ``Run.translate`` and ``gan-adapt translate``.
DEFAULT_STEPS = 300
DEFAULT_LR = 0.05
DEFAULT_LATENT_WEIGHT = 1e-3


def invert(G: Any, image: torch.Tensor, *, steps: int = DEFAULT_STEPS, lr: float = DEFAULT_LR,
           latent_weight: float = DEFAULT_LATENT_WEIGHT, space: str = "w+",
           distance: Any = None, clip: Any = None, clip_weight: float = 0.0) -> torch.Tensor:
    """The W+ latent ``[1, num_ws, w_dim]`` whose ``G.synthesis`` best matches ``image``.

    ``image`` is ``[1, 3, R, R]`` in ``[-1, 1]`` at the generator's resolution. ``distance``
    (``distance(a, b)`` -> per-image values) adds a perceptual term; ``clip`` with a positive
    ``clip_weight`` adds ``1 - cos`` of the CLIP embeddings. Deterministic: the constant noise
    is used and nothing random is drawn.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if space not in ("w", "w+"):
        raise ValueError(f"space must be 'w' or 'w+', got {space!r}")
    image = image.to(G.w_avg.device, torch.float32)
    w_avg = G.w_avg.detach().reshape(1, 1, -1)
    w = (w_avg if space == "w" else w_avg.repeat(1, G.num_ws, 1)).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([w], lr=lr)
    target_embedding = None
    if clip is not None and clip_weight > 0:
        with torch.no_grad():
            target_embedding = clip.embed_images(image)
    with torch.enable_grad():
        for _ in range(steps):
            ws = w.expand(-1, G.num_ws, -1)
            reconstruction = G.synthesis(ws, noise_mode="const")
            loss = torch.nn.functional.mse_loss(reconstruction, image) \
                + latent_weight * (ws - w_avg).square().mean()
            if distance is not None:
                loss = loss + distance(reconstruction, image).mean()
            if target_embedding is not None:
                similarity = clip.embed_images(reconstruction) @ target_embedding.t()
                loss = loss + clip_weight * (1 - similarity).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return w.detach().expand(-1, G.num_ws, -1).contiguous()
