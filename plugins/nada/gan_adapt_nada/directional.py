"""The directional CLIP loss of StyleGAN-NADA, towards a text, image or reference direction.

    L = 1 - cos(E(G_t(w)) - E(G_s(w)), d)

G_s(w) and G_t(w) share latents and noise. The domain direction ``d`` (unit length) is

* ``text``: from the source text to the target text, averaged over prompt templates;
* ``images``: from the mean embedding of ``source_samples`` images of G_s to the mean embedding
  of the target image(s) (StyleGAN-NADA's image-guided mode);
* ``reference``: from G_s(w_ref) to the target image (Mind the Gap's across-domain loss; needs a
  latent search), computed on the first step, once w_ref exists.

With a CLIP ensemble the loss is computed per member and averaged with the members' weights.
Each member embeds G_s(w) and G_t(w) through the step's shared batches (the keys of
:meth:`gan_adapt.plugin_host.context.Step.embedding`), so other terms that embed the same images
with the same model (Mind the Gap's within-domain loss, OneShotCLIP's L_con) add no forwards.
With ``adaptive_layers`` the term also chooses, before each update it takes part in, the layers
that update trains (see :mod:`gan_adapt_nada.layers`).
"""

from __future__ import annotations

from typing import Any

import torch

from gan_adapt.plugin import (
    BuildContext,
    GanAdaptError,
    Step,
    mean_prompt_embedding,
    prompt_direction,
)
from gan_adapt_nada.clip_space import directional_loss, mean_direction, members, unit
from gan_adapt_nada.layers import select_layers
from gan_adapt_nada.params import DirectionalParams

__all__ = ["ClipDirectional", "DirectionalParams"]


class ClipDirectional:
    """StyleGAN-NADA's directional CLIP loss: G_s -> G_t edits aligned with a domain direction."""

    Params = DirectionalParams

    def __init__(self, params: DirectionalParams, ctx: BuildContext) -> None:
        self.params = params
        self.members = members(ctx.encoder(params.encoder))
        self.directions: list[torch.Tensor] | None = None  # per member, [1, D]
        self.goals: list[torch.Tensor] | None = None  # per member target embedding, [1, D]
        target = ctx.target
        with torch.no_grad():
            if params.direction == "text":
                source_text = params.source_text or target.source_text
                target_text = params.target_text or target.text
                if not (source_text and target_text):
                    raise GanAdaptError(
                        "clip_directional with direction = \"text\" needs a source and a target "
                        "description: set target.text and target.source_text in the recipe (or "
                        "the term's source_text and target_text)")
                self.directions = [prompt_direction(m, source_text, target_text,
                                                    params.templates)
                                   for m, _ in self.members]
                self.goals = [mean_prompt_embedding(m, target_text, params.templates,
                                                    normalise=True)
                              for m, _ in self.members]
            elif params.direction == "images":
                images = target.images if target.images is not None else target.image
                if images is None:
                    raise GanAdaptError("clip_directional with direction = \"images\" needs "
                                        "target image(s): set target.image or target.images")
                samples = _source_samples(ctx.generator, params.source_samples)
                targets = [m.embed_images(images) for m, _ in self.members]
                self.directions = [mean_direction(m.embed_images(samples), t)
                                   for (m, _), t in zip(self.members, targets)]
                self.goals = [unit(t.mean(0, keepdim=True)) for t in targets]
            else:
                if target.image is None:
                    raise GanAdaptError("clip_directional with direction = \"reference\" needs "
                                        "a target image (target.image)")
                self.goals = [m.embed_images(target.image) for m, _ in self.members]

    def _reference_directions(self, step: Step) -> list[torch.Tensor]:
        """E(target) - E(G_s(w_ref)) per member, from the searched latent."""
        if step.w_ref is None:
            raise GanAdaptError("clip_directional with direction = \"reference\" needs the "
                                "searched latent w_ref: add a [search] section to the recipe")
        return [unit(goal - step.image_embedding(m, "source_reference"))
                for (m, _), goal in zip(self.members, self.goals)]

    def request_embeddings(self, step: Step) -> None:
        """Announce each member's G_s(w) (a constant) and G_t(w), and G_s(w_ref) on the step
        that fixes a reference direction."""
        for member, _ in self.members:
            if self.directions is None and step.w_ref is not None:
                step.request_image_embedding(member, "source_reference")
            step.request_image_embedding(member, "source")
            step.request_image_embedding(member, "fake")

    def __call__(self, step: Step) -> torch.Tensor:
        if self.directions is None:
            self.directions = self._reference_directions(step)
        total = step.fake.new_zeros(())
        for (member, weight), direction in zip(self.members, self.directions):
            source = step.image_embedding(member, "source")
            adapted = step.image_embedding(member, "fake")
            total = total + weight * directional_loss(adapted - source, direction,
                                                      self.params.min_norm)
        return total

    def goal_loss(self, images: torch.Tensor) -> torch.Tensor:
        """NADA's global CLIP loss towards the target: mean of 1 - cos(E(image), goal),
        averaged over the members (what the adaptive layer selection optimises)."""
        total = images.new_zeros(())
        for (member, weight), goal in zip(self.members, self.goals):
            total = total + weight * (1 - member.embed_images(images) @ goal.t()).mean()
        return total

    def select_parameters(self, step: Step) -> list[torch.nn.Parameter] | None:
        """The parameters of the layers chosen for this step (None: no adaptive selection)."""
        if self.params.adaptive_layers is None:
            return None
        return select_layers(step.source_generator, step.generator, self.goal_loss,
                             self.params.adaptive_layers)


def _source_samples(generator: Any, count: int, chunk: int = 8) -> torch.Tensor:
    """``count`` images of the source generator (random z, constant noise), in chunks."""
    device = generator.w_avg.device
    images = []
    for start in range(0, count, chunk):
        z = torch.randn(min(chunk, count - start), generator.z_dim, device=device)
        images.append(generator.synthesis(generator.mapping(z), noise_mode="const"))
    return torch.cat(images)
