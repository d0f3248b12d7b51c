"""Mind the Gap's within-domain CLIP consistency.

    L_within = 1 - cos(E(G_t(w)) - E(I_ref), E(G_s(w)) - E(G_s(w_ref)))

A sample's offset from the reference in the source domain (G_s(w) against G_s(w_ref)) should
survive adaptation as its offset from the reference image (as the reference implementation
computes it, against the target image itself rather than G_t(w_ref)). Together with the
across-domain direction this keeps each sample's identity while the domain changes. Per CLIP
model, averaged over an ensemble's members. The step's images are embedded through the step's
shared batches (:meth:`Step.image_embedding`), with the across-domain loss's.
"""

from __future__ import annotations

import torch
from gan_adapt_nada.clip_space import directional_loss, members, unit

from gan_adapt.plugin import BuildContext, GanAdaptError, Step
from gan_adapt_mtg.params import ClipWithinDomainParams


class ClipWithinDomain:
    """Each sample's CLIP offset from the reference is kept across domains (Mind the Gap)."""

    Params = ClipWithinDomainParams

    def __init__(self, params: ClipWithinDomainParams, ctx: BuildContext) -> None:
        if ctx.target.image is None:
            raise GanAdaptError("clip_within_domain needs a target image (target.image)")
        self.min_norm = params.min_norm
        self.members = members(ctx.encoder(params.encoder))
        with torch.no_grad():
            self.reference = [m.embed_images(ctx.target.image) for m, _ in self.members]
        self.source_reference: list[torch.Tensor] | None = None  # E(G_s(w_ref)), first step

    def request_embeddings(self, step: Step) -> None:
        """Announce each member's G_s(w) (a constant) and G_t(w), and G_s(w_ref) on the first
        step."""
        for member, _ in self.members:
            if self.source_reference is None and step.w_ref is not None:
                step.request_image_embedding(member, "source_reference")
            step.request_image_embedding(member, "source")
            step.request_image_embedding(member, "fake")

    def __call__(self, step: Step) -> torch.Tensor:
        if step.w_ref is None:
            raise GanAdaptError("clip_within_domain needs the searched latent w_ref: add a "
                                "[search] section to the recipe")
        if self.source_reference is None:
            self.source_reference = [step.image_embedding(m, "source_reference")
                                     for m, _ in self.members]
        total = step.fake.new_zeros(())
        for (member, weight), ref, src_ref in zip(self.members, self.reference,
                                                  self.source_reference):
            source = step.image_embedding(member, "source")
            adapted = step.image_embedding(member, "fake")
            wanted = unit(source - src_ref)  # [N, D], one direction per sample
            total = total + weight * directional_loss(adapted - ref, wanted, self.min_norm)
        return total
