"""Mind the Gap's reference terms: G_t(w_ref) must reproduce the target image.

Each step, besides its own latents, renders the searched latent with the adapted generator
(``step.fake_reference``, computed once per step and shared by these terms) and compares it to
the target image I_ref:

* ``reference_clip``:  1 - cos(E(G_t(w_ref)), E(I_ref)) (averaged over an ensemble's members,
  exactly: the ensemble's cosine is their weighted mean); G_t(w_ref) is embedded in the step's
  shared batch of the encoder, with the gradient-carrying images of the other CLIP terms;
* ``reference_l2``:    mean squared error, both images first resized to ``resize_to``;
* ``reference_lpips``: LPIPS, both images resized to ``resize_to``.

Mind the Gap computes l2 and LPIPS at 256 px (a bicubic 4x down-sampling of 1024-px images).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_adapt.plugin import LPIPS, BuildContext, GanAdaptError, Step
from gan_adapt_mtg.params import ReferenceClipParams, ReferenceL2Params, ReferenceLPIPSParams


def _target(ctx: BuildContext, name: str) -> torch.Tensor:
    if ctx.target.image is None:
        raise GanAdaptError(f"{name} compares G_t(w_ref) with the target image; set target.image")
    return ctx.target.image


def resized(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Antialiased bicubic resize of ``[N, C, H, W]`` to ``size x size`` (None: unchanged)."""
    if size is None or tuple(x.shape[-2:]) == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bicubic", antialias=True,
                         align_corners=False)


class ReferenceClip:
    """1 - CLIP cosine between G_t(w_ref) and the target image."""

    Params = ReferenceClipParams

    def __init__(self, params: ReferenceClipParams, ctx: BuildContext) -> None:
        self.encoder = ctx.encoder(params.encoder)
        with torch.no_grad():
            self.target_embedding = self.encoder.embed_images(_target(ctx, "reference_clip"))

    def request_embeddings(self, step: Step) -> None:
        """Announce G_t(w_ref) to the step's batched embedding."""
        step.request_image_embedding(self.encoder, "fake_reference")

    def __call__(self, step: Step) -> torch.Tensor:
        embedding = step.image_embedding(self.encoder, "fake_reference")
        return (1 - embedding @ self.target_embedding.t()).mean()


class ReferenceL2:
    """Mean squared error between G_t(w_ref) and the target image (optionally resized)."""

    Params = ReferenceL2Params

    def __init__(self, params: ReferenceL2Params, ctx: BuildContext) -> None:
        self.size = params.resize_to
        self.target = resized(_target(ctx, "reference_l2"), self.size)

    def __call__(self, step: Step) -> torch.Tensor:
        return torch.mean((resized(step.fake_reference, self.size) - self.target) ** 2)


class ReferenceLPIPS(torch.nn.Module):
    """LPIPS between G_t(w_ref) and the target image."""

    Params = ReferenceLPIPSParams

    required_weights = staticmethod(LPIPS.required_weights)

    def __init__(self, params: ReferenceLPIPSParams, ctx: BuildContext) -> None:
        super().__init__()
        from gan_adapt.plugin import perceptual_distance

        self.distance = perceptual_distance(net=params.net, pretrained=params.pretrained,
                                            resize_to=params.resize_to).to(ctx.device)
        self.register_buffer("target", _target(ctx, "reference_lpips").clone(), persistent=False)

    def forward(self, step: Step) -> torch.Tensor:
        return self.distance(step.fake_reference, self.target).mean()
