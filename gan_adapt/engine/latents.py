"""The latents of every step, and the :class:`~gan_adapt.plugin_host.context.Step` built from
them: the search and the adaptation build their steps here, the same way.

* search: one latent ``w`` (W or W+) that the search optimises, rendered by G_s;
* adaptation: per step kind, the searched ``w_ref``, fresh random latents (with style mixing) or
  latents around fixed anchors; with the generator noise shared by G_s and G_t;
* the fixed latents of the sample grids.
"""

from __future__ import annotations

import random
from typing import Any

import torch

from gan_adapt.engine.run_state import RunState
from gan_adapt.plugin_host.context import Step
from gan_adapt.recipe.schema import StepKind


def make_search_step(state: RunState, w: torch.Tensor, index: int) -> Step:
    """The step of one search update: the latent ``w`` being optimised, rendered by G_s."""
    G_s = state.components.generator
    return Step(phase="search", index=index, kind="search", ws=broadcast_w(w, G_s.num_ws),
                target=state.components.ctx.target, generator=G_s, source_generator=G_s,
                encoders=state.components.encoders)


def make_adapt_step(state: RunState, kind: StepKind, index: int,
                    for_discriminator: bool = False) -> Step:
    """The step of one adaptation update of a step kind: its latents and shared noise."""
    G_s = state.components.generator
    if kind.latents == "reference":
        ws = state.w_ref.expand(kind.batch, -1, -1)
    elif kind.latents == "anchors":
        ws = anchor_ws(G_s, state.anchors[:kind.anchors], kind.batch, kind.anchor_std,
                        state.validated.recipe.adapt.truncation)
    else:
        ws = random_ws(G_s, kind.batch, kind.mixing, state.validated.recipe.adapt.truncation,
                        state.device)
    noise = G_s.make_noise(kind.batch, device=state.device)
    # Every process drew the whole batch (same seed); each keeps its shard (see distributed.py).
    shard = state.dist.shard(kind.batch)
    return Step(phase="adapt", index=index, kind=kind.name, ws=ws[shard],
                target=state.components.ctx.target, generator=state.G_t, source_generator=G_s,
                noise=[n[shard] for n in noise], discriminator=state.components.discriminator,
                w_ref=state.w_ref, for_discriminator=for_discriminator,
                encoders=state.components.encoders, shard=shard, full_batch=kind.batch,
                dist=state.dist if state.dist.active else None)


def random_ws(G: Any, batch: int, mixing: float, truncation: float,
               device: torch.device) -> torch.Tensor:
    """Map fresh z to W; with probability ``mixing``, layers from a cut-off on use a second z."""
    with torch.no_grad():
        ws = G.mapping(torch.randn(batch, G.z_dim, device=device), truncation_psi=truncation)
        if mixing > 0 and random.random() < mixing:
            cutoff = random.randint(1, G.num_ws - 1)
            ws2 = G.mapping(torch.randn(batch, G.z_dim, device=device),
                            truncation_psi=truncation)
            ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
    return ws


def anchor_latents(state: RunState) -> torch.Tensor | None:
    """The anchor z of ``latents = "anchors"`` kinds (as many as the largest ``anchors``).

    Drawn once from their own seeded generator, not the run's RNG: a resumed run gets the same
    anchors without storing them.
    """
    counts = [k.anchors for k in state.validated.recipe.adapt.schedule if k.latents == "anchors"]
    if not counts:
        return None
    gen = torch.Generator().manual_seed(state.validated.recipe.seed + 2)
    z_dim = state.components.generator.z_dim
    return torch.randn(max(counts), z_dim, generator=gen).to(state.device)


def anchor_ws(G: Any, anchors: torch.Tensor, batch: int, std: float,
               truncation: float) -> torch.Tensor:
    """``batch`` z drawn around randomly chosen anchors (z = anchor + std * noise), mapped to W.

    No style mixing: the image-level adversarial loss of Ojha et al. sees these latents only.
    """
    with torch.no_grad():
        chosen = anchors[torch.randint(anchors.shape[0], (batch,), device=anchors.device)]
        z = chosen + std * torch.randn_like(chosen)
        return G.mapping(z, truncation_psi=truncation)


def sample_latents(state: RunState) -> torch.Tensor:
    """Fixed sample-grid latents, drawn from their own seeded generator (not the run's RNG)."""
    out = state.validated.recipe.output
    gen = torch.Generator().manual_seed(state.validated.recipe.seed + 1)
    G_s = state.components.generator
    z = torch.randn(out.n_samples, G_s.z_dim, generator=gen).to(state.device)
    with torch.no_grad():
        return G_s.mapping(z, truncation_psi=out.truncation)


def broadcast_w(w: torch.Tensor, num_ws: int) -> torch.Tensor:
    """[N, w_dim] -> [N, num_ws, w_dim]; [N, num_ws, w_dim] unchanged."""
    return w.unsqueeze(1).expand(-1, num_ws, -1) if w.dim() == 2 else w
