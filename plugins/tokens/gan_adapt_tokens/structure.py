"""A structure distance: compare *how alike an image's parts are to each other* between two
images, rather than the parts themselves.

A descriptor maps images to self-similarity matrices ``S(x)`` (``[N, P, P]``, one per layer
read). The distance is the mean over layers of the mean squared difference of the matrices:

    L(x, y) = mean over layers of mean_ij (S(x)[i, j] - S(y)[i, j]) ** 2

* in the search it compares G_s(w) with the target image: the latent whose *content* is the
  target's, even when the target is drawn in a far domain (an inverted or sketched face);
* in the adaptation it compares G_t(w) with G_s(w): each sample keeps its layout while its
  appearance changes (Splice's structure loss).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gan_adapt.plugin import BuildContext, GanAdaptError, Step

#: images ``[N, 3, H, W]`` -> one self-similarity matrix ``[N, P, P]`` per layer read
Descriptor = Callable[[Tensor], list[Tensor]]


class StructureDistance:
    """Structure distance: to the target image in the search, to G_s(w) in the adaptation."""

    def __init__(self, describe: Descriptor, ctx: BuildContext, who: str) -> None:
        self.describe = describe
        self.who = who
        self.target: list[Tensor] | None = None
        if ctx.target.image is not None:
            with torch.no_grad():
                self.target = describe(ctx.target.image)

    def __call__(self, step: Step) -> Tensor:
        if step.phase == "search":
            if self.target is None:
                raise GanAdaptError(f"{self.who} in the search needs a target image "
                                    "(target.image)")
            wanted = self.target
        else:
            wanted = self.describe_step(step, "source")
        got = self.describe_step(step, "fake")
        parts = [(g - w).square().mean() for g, w in zip(got, wanted)]  # w broadcasts over N
        return torch.stack(parts).mean()

    def describe_step(self, step: Step, image: str) -> list[Tensor]:
        """The descriptors of the step's ``image`` (``"fake"`` or ``"source"``, the latter
        without autograd); a descriptor on features other terms read too overrides this to
        take them from the step (``Step.feature_maps``)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and image != "source"):
            return self.describe(getattr(step, image))
