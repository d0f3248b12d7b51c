"""Adversarial terms: the generator fools a discriminator that is fine-tuned alongside it.

Both terms use the non-saturating logistic loss of StyleGAN2 and its lazy R1 penalty:

* generator:      softplus(-D(fake)).mean()
* discriminator:  softplus(D(fake)).mean() + softplus(-D(real)).mean()
                  + every ``r1_every`` steps: r1_gamma / 2 * E[|grad_real D(real)|^2] * r1_every
  (the penalty is scaled by its interval so that applying it lazily keeps its strength).

The "real" images are the target image(s), repeated to the fake batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from gan_adapt.engine.context import BuildContext, Step


class AdversarialParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    r1_gamma: float = Field(10.0, ge=0, description="R1 weight (0 disables R1).")
    r1_every: int = Field(16, ge=1, description="Apply R1 when the adapt step index is a "
                                                "multiple of this (lazy regularisation).")
    flip_real: bool = Field(False, description="Randomly flip real images horizontally.")


def real_batch(step: Step, batch: int, flip: bool) -> torch.Tensor:
    """``batch`` real images: the target images cycled, optionally randomly mirrored."""
    images = step.target.images if step.target.images is not None else step.target.image
    if images is None:
        raise ValueError("an adversarial term needs target image(s) as its real data")
    index = torch.arange(batch, device=images.device) % images.shape[0]
    real = images[index]
    if flip:
        mirrored = torch.rand(batch, device=real.device) < 0.5
        real = torch.where(mirrored[:, None, None, None], real.flip(-1), real)
    return real


def r1_penalty(logits_of: "callable", real: torch.Tensor) -> torch.Tensor:
    """E[|d logits / d real|^2]: the gradient norm of D at the real data."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(logits_of(real).sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


class Adversarial(torch.nn.Module):
    """Global adversarial loss against the fine-tuned source discriminator (logistic + lazy R1)."""

    Params = AdversarialParams
    needs_discriminator = True

    def __init__(self, params: AdversarialParams, ctx: BuildContext) -> None:
        super().__init__()
        self.params = params
        # Kept outside the module tree: the engine checkpoints D itself.
        self._discriminator = [ctx.discriminator]

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self._discriminator[0](images)

    def forward(self, step: Step) -> torch.Tensor:
        return F.softplus(-self.logits(step.fake)).mean()

    def discriminator_loss(self, step: Step) -> torch.Tensor:
        real = real_batch(step, step.batch_size, self.params.flip_real)
        loss = F.softplus(self.logits(step.fake)).mean() + F.softplus(-self.logits(real)).mean()
        if self.params.r1_gamma > 0 and step.index % self.params.r1_every == 0:
            penalty = r1_penalty(self.logits, real)
            loss = loss + self.params.r1_gamma / 2 * penalty * self.params.r1_every
        return loss

    def discriminator_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.parameters())  # none of its own: D's are trained by the engine
