"""Patch-wise semantic consistency L_patch: PatchNCE with a CLIP encoder as the patch encoder.

``n_crops`` square patches are cut at the SAME random positions from G_s(w) and G_t(w) (which
share their noise, so the patches are pixel-aligned). A G_t patch (the query) must be closer to
the G_s patch at its own position (the positive) than to the G_s patches at the other positions
of the same image (the negatives):

    L = -log( exp(q.k+ / tau) / sum_over_all_positions exp(q.k / tau) )

which is a cross-entropy over the ``[P, P]`` query-key similarity matrix with the diagonal as
the target class: the positive appears once in the denominator and never among the negatives.
G_s-side embeddings are constants.

The patches are announced to the step (:meth:`PatchNCE.request_embeddings`), so that they are
embedded together with every other input of the same encoder in the step (L_con's whole images
included): one forward for the constants, one with autograd. ``micro_batch`` trades one extra
forward for memory: see :meth:`PatchNCE._micro_batched`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_adapt.plugin import BuildContext, Step, crop_patches, random_boxes
from gan_adapt_oneshotclip.params import PatchNCEParams


def patch_nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of ``queries`` ``[N, P, D]`` against ``keys`` ``[N, P, D]`` (positive: same index).

    Returns the mean over images and queries.
    """
    logits = torch.einsum("npd,nqd->npq", queries, keys) / temperature  # [N, P, P]
    n, p, _ = logits.shape
    labels = torch.arange(p, device=logits.device).expand(n, p)
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten())


class PatchNCE:
    """Patch-wise CLIP PatchNCE L_patch: aligned G_t/G_s patches attract, other positions repel."""

    Params = PatchNCEParams

    def __init__(self, params: PatchNCEParams, ctx: BuildContext) -> None:
        self.params = params
        self.encoder = ctx.encoder(params.encoder)
        resolution = ctx.generator.img_resolution
        self.crop = params.crop_size or max(1, round(params.crop_fraction * resolution))
        if self.crop > resolution:  # refused at build time, before the run folder exists
            from gan_adapt.plugin import GanAdaptError

            raise GanAdaptError(f"patch_nce: crop_size {self.crop} is larger than the "
                                f"generator's {resolution}x{resolution} images; use at most "
                                f"{resolution} (or crop_fraction)")

    def _boxes(self, step: Step) -> torch.Tensor:
        """This step's ``[N, n_crops, 4]`` boxes, drawn once (shared by G_s and G_t)."""
        resolution = step.generator.img_resolution
        return step.cached((id(self), "boxes"), lambda: step.per_sample(
            lambda n: random_boxes(n, self.params.n_crops, self.crop, resolution,
                                   device=step.ws.device)))

    def _key(self, side: str) -> str:
        return f"patch_nce@{id(self)}:{side}"

    def request_embeddings(self, step: Step) -> None:
        """Announce the step's G_s patches (constants) and, unless micro-batched, G_t's."""
        boxes = self._boxes(step)
        step.request_embedding(self.encoder, self._key("source"),
                               lambda: _patches(step.source, boxes), grad=False)
        if self.params.micro_batch is None:
            step.request_embedding(self.encoder, self._key("fake"),
                                   lambda: _patches(step.fake, boxes), grad=True)

    def __call__(self, step: Step) -> torch.Tensor:
        boxes = self._boxes(step)
        n, p = boxes.shape[:2]
        keys = step.embedding(self.encoder, self._key("source"),
                              lambda: _patches(step.source, boxes), grad=False)
        keys = keys.unflatten(0, (n, p))
        fake = step.fake
        if self.params.micro_batch is not None and torch.is_grad_enabled() and fake.requires_grad:
            return self._micro_batched(fake, boxes, keys)
        queries = step.embedding(self.encoder, self._key("fake"),
                                 lambda: _patches(step.fake, boxes), grad=True)
        return patch_nce(queries.unflatten(0, (n, p)), keys, self.params.temperature)

    def _micro_batched(self, fake: torch.Tensor, boxes: torch.Tensor,
                       keys: torch.Tensor) -> torch.Tensor:
        """The loss, with the encoder's backward run ``micro_batch`` patches at a time.

        1. Embed every G_t patch without autograd; differentiate the loss w.r.t. those
           embeddings (cheap: it is a [P, P] softmax per image).
        2. Re-embed the patches chunk by chunk with autograd and pull that gradient back to the
           patch pixels, so only one chunk's encoder activations are alive at a time.
        3. Return ``loss + <patches(fake), g> - <patches(fake), g>.detach()``: its value is the
           loss and its gradient w.r.t. ``fake`` is exactly the accumulated pixel gradient ``g``,
           so the engine's single backward (through G_t) is unchanged.
        """
        n, p = boxes.shape[:2]
        size = self.params.micro_batch
        crops = _patches(fake.detach(), boxes)
        chunks = range(0, crops.shape[0], size)
        with torch.no_grad():
            queries = torch.cat([self.encoder.embed_images(crops[i:i + size]) for i in chunks])
        queries.requires_grad_(True)
        with torch.enable_grad():
            loss = patch_nce(queries.unflatten(0, (n, p)), keys, self.params.temperature)
            (grad_queries,) = torch.autograd.grad(loss, queries)
            pixel_grads = []
            for i in chunks:
                chunk = crops[i:i + size].requires_grad_(True)
                embedded = self.encoder.embed_images(chunk)
                (g,) = torch.autograd.grad(embedded, chunk, grad_outputs=grad_queries[i:i + size])
                pixel_grads.append(g)
        pixel_grad = torch.cat(pixel_grads)
        linear = (_patches(fake, boxes) * pixel_grad).sum()
        return loss.detach() + linear - linear.detach()


def _patches(images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """The ``[N * P, 3, c, c]`` crops ``boxes`` of ``images``, gathered in one indexing op."""
    return crop_patches(images, boxes).flatten(0, 1)
