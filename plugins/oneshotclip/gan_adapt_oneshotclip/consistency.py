"""Sample-wise semantic consistency L_con (OneShotCLIP, after Ojha et al. 2021).

For a batch w_1..w_N the pairwise cosine similarities of the encoder embeddings of G_s(w_i)
should survive adaptation: s^s_ij = cos(E(G_s(w_i)), E(G_s(w_j))) and s^t_ij likewise for G_t.

* ``l2`` (the paper's default): mean over i != j of (s^s_ij - s^t_ij)^2;
* ``kl`` (Ojha et al.'s form, an ablation): for every i, softmax over j != i of each row, and
  KL(p^s_i || p^t_i), averaged over i. With a batch of 2 each row has one entry and the KL is 0.

Vectorised over the batch: one similarity matrix per side, no Python loop over pairs. The two
batches are announced to the step, so they share the encoder's forwards with the step's other
inputs of that encoder (PatchNCE's patches): see
:meth:`gan_adapt.plugin_host.context.Step.embedding`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_adapt.plugin import BuildContext, GanAdaptError, Step, off_diagonal
from gan_adapt_oneshotclip.params import ClipConsistencyParams


def similarity_matrix(embeddings: torch.Tensor) -> torch.Tensor:
    """Cosine similarities ``[N, N]`` of L2-normalised embeddings ``[N, D]``."""
    return embeddings @ embeddings.t()


def consistency_l2(source: torch.Tensor, adapted: torch.Tensor) -> torch.Tensor:
    """Mean over i != j of (cos_s(i, j) - cos_t(i, j))^2."""
    return (off_diagonal(similarity_matrix(source))
            - off_diagonal(similarity_matrix(adapted))).pow(2).mean()


def consistency_kl(source: torch.Tensor, adapted: torch.Tensor) -> torch.Tensor:
    """Mean over i of KL(softmax_j!=i cos_s(i, .) || softmax_j!=i cos_t(i, .))."""
    p_source = F.softmax(off_diagonal(similarity_matrix(source)), dim=1)
    log_p_adapted = F.log_softmax(off_diagonal(similarity_matrix(adapted)), dim=1)
    return F.kl_div(log_p_adapted, p_source, reduction="batchmean")


class ClipConsistency:
    """Sample-wise CLIP similarity consistency L_con between G_s and G_t on the same latents."""

    Params = ClipConsistencyParams

    def __init__(self, params: ClipConsistencyParams, ctx: BuildContext) -> None:
        self.encoder = ctx.encoder(params.encoder)
        self.distance = consistency_l2 if params.distance == "l2" else consistency_kl

    def request_embeddings(self, step: Step) -> None:
        """Announce G_s(w) (a constant) and G_t(w) to the step's batched embedding."""
        step.request_image_embedding(self.encoder, "source")
        step.request_image_embedding(self.encoder, "fake")

    def __call__(self, step: Step) -> torch.Tensor:
        if (step.full_batch or step.batch_size) < 2:
            raise GanAdaptError(f"clip_consistency compares samples pairwise and needs a batch of "
                                f"at least 2; step kind {step.kind!r} has batch "
                                f"{step.batch_size}")
        source = step.image_embedding(self.encoder, "source")
        adapted = step.image_embedding(self.encoder, "fake")
        # pairs span the whole batch: a multi-process run gathers every process's shard
        return self.distance(step.gather(source), step.gather(adapted))
