"""One update of each kind: a search step on the latent, and an adaptation step (the
discriminator update on the adversarial terms, the generator update on the weighted sum of
all terms, the EMA), with the checks that name the term behind a failure."""

from __future__ import annotations

from typing import Any

import torch

from gan_adapt.engine.build import ActiveTerm
from gan_adapt.engine.latents import make_adapt_step, make_search_step
from gan_adapt.engine.memory_advice import out_of_memory
from gan_adapt.engine.run_state import RunState
from gan_adapt.errors import (
    GanAdaptError,
    PluginError,
    TrainingDiverged,
)
from gan_adapt.plugin_host import contracts
from gan_adapt.plugin_host.context import Step
from gan_adapt.recipe.schedule import applied_before
from gan_adapt.recipe.schema import StepKind


def search_step(state: RunState, w: torch.Tensor, opt: torch.optim.Optimizer,
                index: int) -> dict[str, torch.Tensor]:
    """One Adam step on the latent ``w`` over the search terms; returns the detached values."""
    step = make_search_step(state, w, index)
    terms = [t for t in state.components.search_terms if t.applies("search", index)]
    request_embeddings(step, terms)
    losses = {t.label: t(step) for t in terms}
    total = sum(t.spec.weight * losses[t.label] for t in terms)
    check_finite(total, losses, index, phase="search", terms=terms)
    if contracts.check_mode():
        contracts.check_first_gradients(state, "search", terms, losses, [w], "the latent w")
    opt.zero_grad(set_to_none=True)
    backward(total, terms, "search", index)
    opt.step()
    values = {k: v.detach() for k, v in losses.items()}
    values["total"] = total.detach()
    return values


def adapt_step(state: RunState, kind: StepKind, index: int, g_opt: torch.optim.Optimizer,
               d_opt: torch.optim.Optimizer | None, g_params: list[torch.nn.Parameter],
               d_params: list[torch.nn.Parameter]) -> dict[str, torch.Tensor]:
    """One fine-tuning step: D update on the adversarial terms that apply, G update on the
    weighted sum of all of them, EMA. Returns the detached values to log."""
    terms = [t for t in state.components.losses if t.applies(kind.name, index)]
    values: dict[str, torch.Tensor] = {}
    adversarial = [t for t in terms if t.is_adversarial]
    if adversarial and d_opt is not None:
        values.update(discriminator_update(state, kind, index, adversarial, d_opt, d_params))
    values.update(generator_update(state, kind, index, terms, g_opt, g_params))
    # Exponential moving average of the trained weights: the run's result.
    update_ema(state.G_ema, state.G_t, state.validated.recipe.adapt.ema_decay)
    return values


def discriminator_update(state: RunState, kind: StepKind, index: int, adversarial: list[ActiveTerm],
                         d_opt: torch.optim.Optimizer,
                         d_params: list[torch.nn.Parameter]) -> dict[str, torch.Tensor]:
    """One Adam step of D (and the terms' own heads) on the adversarial terms' D losses.

    D's parameters need gradients only here: in the generator update they are constants.
    """
    requires_grad(d_params, True)
    d_step = make_adapt_step(state, kind, index, for_discriminator=True)
    d_losses = {f"D/{t.label}": t.discriminator_loss(d_step) for t in adversarial}
    d_total = sum(d_losses.values())
    check_finite(d_total, d_losses, index, terms=adversarial,
                 schedule=state.validated.recipe.adapt.schedule)
    d_opt.zero_grad(set_to_none=True)
    backward(d_total, adversarial, "discriminator", index)
    state.dist.average_gradients(d_params)
    d_opt.step()
    requires_grad(d_params, False)
    return {k: v.detach() for k, v in d_losses.items()}


def generator_update(state: RunState, kind: StepKind, index: int, terms: list[ActiveTerm],
                     g_opt: torch.optim.Optimizer,
                     g_params: list[torch.nn.Parameter]) -> dict[str, torch.Tensor]:
    """One Adam step of G_t on the weighted sum of ``terms``; values include ``total``."""
    g_step = make_adapt_step(state, kind, index)
    select_trainable(g_params, terms, g_step)
    request_embeddings(g_step, terms)
    g_losses = {t.label: t(g_step) for t in terms}
    g_total = sum(t.spec.weight * g_losses[t.label] for t in terms)
    check_finite(g_total, g_losses, index, terms=terms,
                 schedule=state.validated.recipe.adapt.schedule)
    if contracts.check_mode():
        contracts.check_first_gradients(state, "generator", terms, g_losses, g_params,
                                        "G_t's trainable parameters")
    g_opt.zero_grad(set_to_none=True)
    backward(g_total, terms, "generator", index)
    state.dist.average_gradients(g_params)
    g_opt.step()
    values = {k: v.detach() for k, v in g_losses.items()}
    values["total"] = g_total.detach()
    return values


def request_embeddings(step: Step, terms: list[ActiveTerm]) -> None:
    """Let every term announce its encoder inputs, so that each encoder embeds all of this
    step's inputs together (see ``Step.embedding``) instead of once per term."""
    for term in terms:
        term.request_embeddings(step)


def select_trainable(params: list[torch.nn.Parameter], terms: list[ActiveTerm],
                      step: Step) -> None:
    """Let terms narrow which generator parameters this update trains.

    A term with ``select_parameters(step) -> parameters | None`` (e.g. StyleGAN-NADA's
    adaptive layer choice) restricts the update to those (None: no restriction); with several
    such terms, to what all of them select. The others get no gradient, so Adam leaves them
    (and their moments) untouched. Every step starts again from the recipe's trainable set.
    """
    allowed: set[int] | None = None
    for term in terms:
        chosen = term.select_parameters(step)
        if chosen is not None:
            ids = {id(p) for p in chosen}
            allowed = ids if allowed is None else allowed & ids
    for p in params:
        p.requires_grad_(allowed is None or id(p) in allowed)


def backward(total: torch.Tensor, terms: list[ActiveTerm], update: str, index: int) -> None:
    """``total.backward()`` of the ``update`` ("search", "discriminator" or "generator") of
    step ``index``, naming the update and its terms when the backward pass raises.

    Every weighted term of an update shares one backward pass, so a failure inside it (a
    plugin's custom autograd Function, a hook on a tensor) cannot be pinned on one term: the
    message lists them all. A GanAdaptError keeps its type and gains that as a note;
    KeyboardInterrupt passes through. The message is built only on failure.
    """
    try:
        total.backward()
    except GanAdaptError as exc:
        exc.add_note(f"(raised in the backward pass of {_update_name(update, index)}; its "
                     f"terms: {', '.join(t.describe() for t in terms)})")
        raise
    except Exception as exc:
        oom = out_of_memory(exc, f"the backward pass of {_update_name(update, index)}")
        if oom is not None:
            raise oom from exc
        raise PluginError(
            f"The backward pass of {_update_name(update, index)} failed: "
            f"{type(exc).__name__}: {exc}. The update's terms share that one pass, so the "
            "failure cannot be pinned on one of them (the usual cause is a term's custom "
            "autograd function or a hook on a tensor); its terms: "
            f"{', '.join(t.describe() for t in terms)}. The run stopped. "
            "Set GAN_ADAPT_DEBUG=1 to see the traceback.") from exc


def _update_name(update: str, index: int) -> str:
    """``search step 3`` or ``the generator update of adapt step 3``."""
    return f"search step {index}" if update == "search" else \
        f"the {update} update of adapt step {index}"


def discriminator_parameters(D: Any, losses: list[ActiveTerm]) -> list[torch.nn.Parameter]:
    """D's parameters plus those the adversarial terms own (e.g. a patch head), once each."""
    params: dict[int, torch.nn.Parameter] = {}
    if D is not None:
        params.update({id(p): p for p in D.parameters()})
    for term in losses:
        owned = getattr(term.impl, "discriminator_parameters", None)
        if owned is not None:
            params.update({id(p): p for p in owned()})
    found = list(params.values())
    requires_grad(found, False)
    return found


def requires_grad(params: list[torch.nn.Parameter], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


@torch.no_grad()
def update_ema(ema: Any, model: Any, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, on parameters; buffers are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def check_finite(total: torch.Tensor, parts: dict[str, torch.Tensor], index: int,
                 phase: str = "adapt", terms: list[ActiveTerm] = (),
                 schedule: list[StepKind] | None = None) -> None:
    """Stop with the step and the term (its recipe path and plugin) that produced a NaN/Inf.

    A term that is non-finite the first time it applies has seen no training yet (nothing a
    learning rate did): the term itself is blamed. ``schedule`` is the adapt schedule (None in
    the search, whose steps are all of kind "search").
    """
    if bool(torch.isfinite(total)):
        return
    bad = [name for name, value in parts.items() if not bool(torch.isfinite(value).all())]
    culprits = [t for t in terms if t.label in bad or f"D/{t.label}" in bad]
    where = "; ".join(t.describe() for t in culprits)
    first = [t.label for t in culprits
             if not applied_before(t.spec, None if phase == "search" else schedule, index)]
    if first and len(first) == len(culprits):
        advice = (f" The first time {', '.join(first)} applied, before any step it took part in "
                  "could change the weights: a bug in the term (its plugin), not a learning "
                  "rate that is too high. Run with --check-plugins to check the term's "
                  "contracts, and fix or report its plugin.")
    else:
        advice = " Lower the learning rate or the term's weight."
    raise TrainingDiverged(
        f"{phase} step {index}: the loss became non-finite (term(s): {', '.join(bad) or 'total'})."
        + (f" Where: {where}." if where else "") + advice)
