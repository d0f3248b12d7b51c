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

from gan_adapt.generators.compiling import eager
from gan_adapt.losses.params import AdversarialParams, PatchAdversarialParams
from gan_adapt.plugin_host.context import BuildContext, Step

__all__ = ["Adversarial", "AdversarialParams", "PatchAdversarial", "PatchAdversarialParams",
           "PatchHead", "r1_penalty", "real_batch"]


def real_batch(step: Step, batch: int, flip: bool) -> torch.Tensor:
    """``batch`` real images, optionally randomly mirrored: the target repeated (one-shot), or
    drawn at random from the target images (few-shot), so that every image takes part."""
    images = step.target.images if step.target.images is not None else step.target.image
    if images is None:
        raise ValueError("an adversarial term needs target image(s) as its real data")
    count = images.shape[0]
    # Drawn for the whole batch, then this process's shard (multi-process runs draw alike).
    if count > 1:
        index = step.per_sample(lambda n: torch.randint(count, (n,), device=images.device))
    else:
        index = torch.zeros(batch, dtype=torch.long, device=images.device)
    real = images[index]
    if flip:
        mirrored = step.per_sample(lambda n: torch.rand(n, device=real.device)) < 0.5
        real = torch.where(mirrored[:, None, None, None], real.flip(-1), real)
    return real


def r1_penalty(logits_of: callable, real: torch.Tensor) -> torch.Tensor:
    """E[|d logits / d real|^2]: the gradient norm of D at the real data.

    Its D pass runs eagerly even when D is compiled (recipe ``compile``): the penalty is
    differentiated twice, and compiled graphs support one backward only.
    """
    real = real.detach().requires_grad_(True)
    with eager():
        (grad,) = torch.autograd.grad(logits_of(real).sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


class Adversarial(torch.nn.Module):
    """Global adversarial loss against the fine-tuned source discriminator (logistic + lazy R1)."""

    Params = AdversarialParams
    needs_discriminator = True
    #: The whole D sees each batch, its minibatch-stddev layer too (checked before a run).
    reaches_minibatch_stddev = True

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


class PatchHead(torch.nn.Module):
    """Per-patch logits from a D feature map: an equalised-lr 3x3 conv to one channel (no conv
    bias), then a leaky ReLU (slope 0.2) with a learned bias, scaled by sqrt(2).

    This is the head of Ojha et al.'s patch discriminator as OneShotCLIP's reference code builds
    it (its activation on the logits included).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(1, channels, 3, 3))
        self.bias = torch.nn.Parameter(torch.zeros(1))
        self.scale = 1 / (channels * 9) ** 0.5  # equalised learning rate: scale at run time

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # float32 whatever the trunk's precision: the logits feed the loss directly.
        x = F.conv2d(features.float(), self.weight * self.scale, padding=1)
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * 2 ** 0.5


class PatchAdversarial(torch.nn.Module):
    """Patch adversarial loss: a trainable head on an intermediate map of the shared D trunk."""

    Params = PatchAdversarialParams
    needs_discriminator = True

    def __init__(self, params: PatchAdversarialParams, ctx: BuildContext) -> None:
        super().__init__()
        from gan_adapt.errors import GanAdaptError

        self.params = params
        D = ctx.discriminator
        self._discriminator = [D]  # D's own weights are checkpointed by the engine
        names = getattr(D, "feature_names", [])
        if params.feature not in names:
            raise GanAdaptError(f"patch_adversarial: the discriminator has no feature map "
                                f"{params.feature!r}; it has {names}")
        resolution = ctx.generator.img_resolution
        with torch.no_grad():  # one dummy pass to learn the map's channel count
            probe = torch.zeros(1, 3, resolution, resolution, device=ctx.device)
            channels = D.features(probe, params.feature).shape[1]
        self.head = PatchHead(channels)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Per-image mean of the patch logits ``[N, 1]`` (the trunk stops at the feature map)."""
        patches = self.head(self._discriminator[0].features(images, self.params.feature))
        return patches.flatten(1).mean(1, keepdim=True)

    def patch_logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self._discriminator[0].features(images, self.params.feature))

    def forward(self, step: Step) -> torch.Tensor:
        return F.softplus(-self.patch_logits(step.fake)).mean()

    def discriminator_loss(self, step: Step) -> torch.Tensor:
        real = real_batch(step, step.batch_size, self.params.flip_real)
        loss = (F.softplus(self.patch_logits(step.fake)).mean()
                + F.softplus(-self.patch_logits(real)).mean())
        if self.params.r1_gamma > 0 and step.index % self.params.r1_every == 0:
            penalty = r1_penalty(self.logits, real)
            loss = loss + self.params.r1_gamma / 2 * penalty * self.params.r1_every
        return loss

    def discriminator_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.head.parameters())
