"""The CLIP term of OneShotCLIP's text-guided latent search (the paper's text mode).

    L_text(w) = mean over K augmented copies a_k and templates t of 1 - cos(E(a_k(G_s(w))), T(t))

The source latent that already looks most like the target description becomes w_ref. The text
embedding is the plain mean of the templates' unit embeddings (not renormalised), so the loss is
exactly the mean of the per-template losses; with a CLIP ensemble it is exactly the weighted
mean over the members (the ensemble's cosine is linear in theirs).
"""

from __future__ import annotations

import torch

from gan_adapt.plugin import BuildContext, CLIPAugment, GanAdaptError, Step, mean_prompt_embedding
from gan_adapt_oneshotclip.params import ClipTextDistanceParams


class ClipTextDistance:
    """1 - CLIP cosine between a text and K augmented copies of G_s(w)."""

    Params = ClipTextDistanceParams

    def __init__(self, params: ClipTextDistanceParams, ctx: BuildContext) -> None:
        text = params.text or ctx.target.text
        if not text:
            raise GanAdaptError("clip_text_distance needs a description: set target.text in the "
                                "recipe (or the term's text)")
        self.encoder = ctx.encoder(params.encoder)
        self.n_aug = params.n_aug
        self.augment = CLIPAugment(**params.augment.model_dump())
        with torch.no_grad():  # [1, D], not renormalised (see the module docstring)
            self.text_embedding = mean_prompt_embedding(self.encoder, text, params.templates,
                                                        normalise=False)

    def __call__(self, step: Step) -> torch.Tensor:
        unit = (step.fake + 1) / 2  # augmentations work on [0, 1] images
        copies = self.augment.repeat(unit, self.n_aug) * 2 - 1
        embeddings = self.encoder.embed_images(copies)  # [K * N, D]
        return (1 - embeddings @ self.text_embedding.t()).mean()
