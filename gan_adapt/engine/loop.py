"""The adaptation loop: build -> latent search -> adaptation -> outputs.

One function, :func:`run`, reads top to bottom. Method-specific behaviour lives in the
components a recipe names; the loop only knows step kinds, weighted terms and the optional
adversarial game:

* a term is a callable ``term(step) -> scalar tensor``;
* an *adversarial* term also has ``discriminator_loss(step)`` (and may own trainable parts,
  returned by ``discriminator_parameters()``): before the generator update of a step, the
  discriminator is updated on the sum of the adversarial terms that apply to that step.
"""

from __future__ import annotations

import copy
import math
import random
import signal
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gan_adapt.io import atomic_files as files
from gan_adapt.plugin_host import contracts
from gan_adapt.engine.build import ActiveTerm, Components, build_components
from gan_adapt.generators.compiling import compile_networks, eager, uncompile_networks
from gan_adapt.plugin_host.context import Step
from gan_adapt.engine.memory_advice import out_of_memory
from gan_adapt.engine.distributed import Distributed
from gan_adapt.engine.distributed import current as current_distributed
from gan_adapt.engine.health import check_weights
from gan_adapt.engine.observers import notify
from gan_adapt.engine.run_folder import RunFolder, step_of
from gan_adapt.engine.run_records import check_rng_state, check_search_state, check_w_ref
from gan_adapt.errors import (CheckpointError, GanAdaptError, OutOfMemory, PluginError,
                              TrainingDiverged, UnsafeFileError)
from gan_adapt.recipe.parameter_groups import freeze
from gan_adapt.engine.progress import PhaseProgress
from gan_adapt.recipe.schema import StepKind, ValidatedRecipe
from gan_adapt.engine.grid_latents import with_mean_layers
from gan_adapt.recipe.schedule import step_kind


@dataclass
class Run:
    """The state of a run, as observer hooks see it."""

    validated: ValidatedRecipe
    folder: RunFolder
    components: Components
    plugin_set: Any
    device: torch.device
    phase: str = "build"
    step: int = 0
    w_ref: torch.Tensor | None = None
    G_t: Any = None  # the generator being adapted
    G_ema: Any = None  # its moving average: the result
    interrupted: bool = False
    anchors: torch.Tensor | None = None  # [n, z_dim] anchor z of `latents = "anchors"` kinds
    dist: Distributed = field(default_factory=current_distributed)  # torchrun: rank and world


@dataclass
class RunResult:
    """What a finished (or interrupted) run produced."""

    folder: Path
    status: str  # "done" or "interrupted"
    steps_done: int
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def run(validated: ValidatedRecipe, plugin_set: Any, folder: RunFolder, components: Components,
        *, resume: bool = False, progress_live: bool | None = None) -> RunResult:
    """Run (or resume) an adaptation whose components are built and folder created."""
    recipe = validated.recipe
    device = components.ctx.device
    state = Run(validated, folder, components, plugin_set, device)
    G_s = components.generator

    # Ctrl-C: finish the current step, write a checkpoint, exit cleanly. A second Ctrl-C
    # interrupts at once (the previous checkpoint survives: writes are atomic).
    def on_sigint(signum: int, frame: Any) -> None:
        if state.interrupted:
            raise KeyboardInterrupt
        state.interrupted = True

    previous_handler = signal.signal(signal.SIGINT, on_sigint)
    try:
        notify(plugin_set, "on_run_start", run=state)
        folder.update_meta(status="running")

        # ---- 1. Latent search: find w_ref, the source latent closest to the target --------
        search_file = folder.search / "w_ref.pt"
        if recipe.search is not None:
            state.phase = "search"
            if resume and search_file.exists():
                saved = folder.load_state(search_file, device)
                folder.check_identity(search_file, saved)
                check_search_state(saved, state.components.generator, search_file)
                state.w_ref = saved["w_ref"]
                _set_rng_state(saved["rng"])
                if not (folder.search / "target_vs_reference.png").exists():
                    _save_reference_image(state)  # killed between the two writes
            else:
                if resume:  # killed during the search: it starts again, and so does its log
                    folder.truncate_log(lambda r: r.get("phase") != "search")
                state.w_ref = _latent_search(state, progress_live)
                if state.interrupted:
                    return _stop(state, "interrupted")
                if folder.writer:
                    files.torch_save({"w_ref": state.w_ref.cpu(), "rng": _rng_state(),
                                      "identity": folder.identity}, search_file)
                _save_reference_image(state)

        # ---- 2. Adaptation: G_t starts as a copy of G_s -----------------------------------
        state.phase = "adapt"
        adapt = recipe.adapt
        g_opt, d_opt, g_params, d_params = setup_adaptation(state)
        start = 0
        if resume:
            start = _load_latest_checkpoint(state, g_opt, d_opt)
        if start == 0:
            folder.truncate_log(lambda r: r.get("phase") != "adapt")
            _save_samples(state, 0)
        sample_z = _sample_latents(state)
        state.anchors = _anchor_latents(state)
        set_precision(state, "adapt", adapt.precision)

        with PhaseProgress("adapt", adapt.steps, start, live=progress_live,
                           enabled=state.dist.is_main) as progress:
            for index in range(start, adapt.steps):
                state.step = index
                kind = _step_kind(adapt.schedule, index)
                values = adapt_step(state, kind, index, g_opt, d_opt, g_params, d_params)

                # Log, observe, sample, checkpoint.
                done = index + 1
                logged = _log(state, kind.name, index, values, recipe.output.log_every)
                notify(plugin_set, "on_step_end", run=state, phase="adapt", step=index,
                       values=logged)
                progress.update(index, logged)
                if done % recipe.output.sample_every == 0 or done == adapt.steps:
                    _save_samples(state, done, sample_z)
                if (done % recipe.output.checkpoint_every == 0 or done == adapt.steps
                        or state.interrupted):
                    _save_checkpoint(state, done, g_opt, d_opt)
                if state.interrupted and done < adapt.steps:
                    return _stop(state, "interrupted")

        # ---- 3. Outputs ----------------------------------------------------------------------
        state.step = adapt.steps
        result = _write_outputs(state)
        notify(plugin_set, "on_run_end", run=state, result=result)
        return result
    except BaseException as exc:
        _record_failure(state, exc)
        raise
    finally:
        signal.signal(signal.SIGINT, previous_handler)


# ---------------------------------------------------------------------------------------------
# Latent search


def _latent_search(state: Run, progress_live: bool | None) -> torch.Tensor:
    """Optimise one latent (W, or W+ per layer) of G_s from w_avg on the search terms."""
    search = state.validated.recipe.search
    G_s = state.components.generator
    w_avg = G_s.w_avg.detach().to(state.device)
    if search.space == "w":
        w = w_avg.clone().unsqueeze(0)  # [1, w_dim]
    else:
        w = w_avg.clone().unsqueeze(0).repeat(G_s.num_ws, 1).unsqueeze(0)  # [1, num_ws, w_dim]
    w.requires_grad_(True)
    opt = torch.optim.Adam([w], lr=search.lr, betas=search.betas)
    set_precision(state, "search", search.precision)
    if search.compile:
        compile_networks([G_s.synthesis])
    with PhaseProgress("search", search.steps, live=progress_live,
                           enabled=state.dist.is_main) as progress:
        for index in range(search.steps):
            state.step = index
            values = search_step(state, w, opt, index)
            logged = _log(state, "search", index, values, search.log_every)
            notify(state.plugin_set, "on_step_end", run=state, phase="search", step=index,
                   values=logged)
            progress.update(index, logged)
            if state.interrupted:
                break
    uncompile_networks([G_s.synthesis])  # the adaptation deep-copies G_s: uncompiled
    return _broadcast(w.detach(), G_s.num_ws)


def search_step(state: Run, w: torch.Tensor, opt: torch.optim.Optimizer,
                index: int) -> dict[str, torch.Tensor]:
    """One Adam step on the latent ``w`` over the search terms; returns the detached values."""
    G_s = state.components.generator
    step = Step(phase="search", index=index, kind="search", ws=_broadcast(w, G_s.num_ws),
                target=state.components.ctx.target, generator=G_s, source_generator=G_s,
                encoders=state.components.encoders)
    terms = [t for t in state.components.search_terms if t.applies("search", index)]
    _request_embeddings(step, terms)
    losses = {t.label: t(step) for t in terms}
    total = sum(t.spec.weight * losses[t.label] for t in terms)
    _check_finite(total, losses, index, phase="search", terms=terms)
    if contracts.check_mode():
        contracts.check_first_gradients(state, "search", terms, losses, [w], "the latent w")
    opt.zero_grad(set_to_none=True)
    _backward(total, terms, "search", index)
    opt.step()
    values = {k: v.detach() for k, v in losses.items()}
    values["total"] = total.detach()
    return values


def _broadcast(w: torch.Tensor, num_ws: int) -> torch.Tensor:
    """[N, w_dim] -> [N, num_ws, w_dim]; [N, num_ws, w_dim] unchanged."""
    return w.unsqueeze(1).expand(-1, num_ws, -1) if w.dim() == 2 else w


def _save_reference_image(state: Run) -> None:
    """search/target_vs_reference.png: the target next to G_s(w_ref)."""
    from gan_adapt.io.images import save_grid

    if not state.folder.writer:
        return
    target = state.components.ctx.target.image
    with torch.no_grad():
        reference = state.components.generator.synthesis(state.w_ref, noise_mode="const")
    tiles = [reference] if target is None else [target.to(reference), reference]
    save_grid(torch.cat(tiles), state.folder.search / "target_vs_reference.png", nrow=len(tiles))


# ---------------------------------------------------------------------------------------------
# Adaptation steps


def setup_adaptation(state: Run) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer | None,
                                          list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    """G_t (a trainable copy of G_s, minus the recipe's frozen groups) and its EMA on ``state``;
    returns the optimisers and the parameters they train: (g_opt, d_opt, g_params, d_params)."""
    adapt = state.validated.recipe.adapt
    G_t = copy.deepcopy(state.components.generator).train().requires_grad_(True)
    freeze(G_t, adapt.freeze)
    state.G_t, state.G_ema = G_t, copy.deepcopy(G_t).eval().requires_grad_(False)
    d_params = _discriminator_parameters(state.components.discriminator, state.components.losses)
    g_params = [p for p in G_t.parameters() if p.requires_grad]
    g_opt = torch.optim.Adam(g_params, lr=adapt.generator_optimizer.lr,
                             betas=adapt.generator_optimizer.betas)
    d_opt = (torch.optim.Adam(d_params, lr=adapt.discriminator_optimizer.lr,
                              betas=adapt.discriminator_optimizer.betas) if d_params else None)
    if adapt.compile:
        G_s, D = state.components.generator, state.components.discriminator
        compile_networks([G_t.synthesis, getattr(G_s, "synthesis", None), D])
    return g_opt, d_opt, g_params, d_params


def adapt_step(state: Run, kind: StepKind, index: int, g_opt: torch.optim.Optimizer,
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
    _update_ema(state.G_ema, state.G_t, state.validated.recipe.adapt.ema_decay)
    return values


def discriminator_update(state: Run, kind: StepKind, index: int, adversarial: list[ActiveTerm],
                         d_opt: torch.optim.Optimizer,
                         d_params: list[torch.nn.Parameter]) -> dict[str, torch.Tensor]:
    """One Adam step of D (and the terms' own heads) on the adversarial terms' D losses.

    D's parameters need gradients only here: in the generator update they are constants.
    """
    _requires_grad(d_params, True)
    d_step = _make_step(state, kind, index, for_discriminator=True)
    d_losses = {f"D/{t.label}": t.discriminator_loss(d_step) for t in adversarial}
    d_total = sum(d_losses.values())
    _check_finite(d_total, d_losses, index)
    d_opt.zero_grad(set_to_none=True)
    _backward(d_total, adversarial, "discriminator", index)
    state.dist.average_gradients(d_params)
    d_opt.step()
    _requires_grad(d_params, False)
    return {k: v.detach() for k, v in d_losses.items()}


def generator_update(state: Run, kind: StepKind, index: int, terms: list[ActiveTerm],
                     g_opt: torch.optim.Optimizer,
                     g_params: list[torch.nn.Parameter]) -> dict[str, torch.Tensor]:
    """One Adam step of G_t on the weighted sum of ``terms``; values include ``total``."""
    g_step = _make_step(state, kind, index)
    _select_trainable(g_params, terms, g_step)
    _request_embeddings(g_step, terms)
    g_losses = {t.label: t(g_step) for t in terms}
    g_total = sum(t.spec.weight * g_losses[t.label] for t in terms)
    _check_finite(g_total, g_losses, index, terms=terms)
    if contracts.check_mode():
        contracts.check_first_gradients(state, "generator", terms, g_losses, g_params,
                                        "G_t's trainable parameters")
    g_opt.zero_grad(set_to_none=True)
    _backward(g_total, terms, "generator", index)
    state.dist.average_gradients(g_params)
    g_opt.step()
    values = {k: v.detach() for k, v in g_losses.items()}
    values["total"] = g_total.detach()
    return values


def _request_embeddings(step: Step, terms: list[ActiveTerm]) -> None:
    """Let every term announce its encoder inputs, so that each encoder embeds all of this
    step's inputs together (see ``Step.embedding``) instead of once per term."""
    for term in terms:
        term.request_embeddings(step)


def set_precision(state: Run, phase: str, precision: str) -> None:
    """Apply a phase's ``precision`` to the components that support mixed precision.

    ``"bf16"`` sets ``mixed_precision = torch.bfloat16`` on every module that has that attribute
    (the encoders, LPIPS, the discriminator's high-resolution blocks); ``"fp32"`` resets it. The
    generators have no such attribute: StyleGAN2's modulated convolutions stay float32.
    ``"auto"`` is bf16 where the device computes it fast (see :mod:`gan_adapt.engine.precision`); an
    explicit bf16 where it is slow runs, with a one-line warning.
    """
    from gan_adapt.engine.precision import resolve_precision, slow_bf16_warning

    warning = slow_bf16_warning(precision, str(state.device))
    if warning:
        warnings.warn(warning)  # same text and line for both phases: shown once
    precision = resolve_precision(precision, str(state.device))
    dtype = torch.bfloat16 if precision == "bf16" else None
    c = state.components
    terms = c.search_terms if phase == "search" else c.losses
    modules = [c.discriminator, *c.encoders.values(), *(t.impl for t in terms)]
    for module in modules:
        if isinstance(module, torch.nn.Module):
            for m in module.modules():
                if hasattr(m, "mixed_precision"):
                    m.mixed_precision = dtype


def _step_kind(schedule: list[StepKind], index: int) -> StepKind:
    """The first kind whose ``every``/``offset`` claims ``index``; the last kind otherwise."""
    return step_kind(schedule, index)


def _make_step(state: Run, kind: StepKind, index: int, for_discriminator: bool = False) -> Step:
    """Latents and shared noise for one update of a step kind."""
    G_s = state.components.generator
    if kind.latents == "reference":
        ws = state.w_ref.expand(kind.batch, -1, -1)
    elif kind.latents == "anchors":
        ws = _anchor_ws(G_s, state.anchors[:kind.anchors], kind.batch, kind.anchor_std,
                        state.validated.recipe.adapt.truncation)
    else:
        ws = _random_ws(G_s, kind.batch, kind.mixing, state.validated.recipe.adapt.truncation,
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


def _random_ws(G: Any, batch: int, mixing: float, truncation: float,
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


def _anchor_latents(state: Run) -> torch.Tensor | None:
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


def _anchor_ws(G: Any, anchors: torch.Tensor, batch: int, std: float,
               truncation: float) -> torch.Tensor:
    """``batch`` z drawn around randomly chosen anchors (z = anchor + std * noise), mapped to W.

    No style mixing: the image-level adversarial loss of Ojha et al. sees these latents only.
    """
    with torch.no_grad():
        chosen = anchors[torch.randint(anchors.shape[0], (batch,), device=anchors.device)]
        z = chosen + std * torch.randn_like(chosen)
        return G.mapping(z, truncation_psi=truncation)


def _select_trainable(params: list[torch.nn.Parameter], terms: list[ActiveTerm],
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


def _backward(total: torch.Tensor, terms: list[ActiveTerm], update: str, index: int) -> None:
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


def _discriminator_parameters(D: Any, losses: list[ActiveTerm]) -> list[torch.nn.Parameter]:
    """D's parameters plus those the adversarial terms own (e.g. a patch head), once each."""
    params: dict[int, torch.nn.Parameter] = {}
    if D is not None:
        params.update({id(p): p for p in D.parameters()})
    for term in losses:
        owned = getattr(term.impl, "discriminator_parameters", None)
        if owned is not None:
            params.update({id(p): p for p in owned()})
    found = list(params.values())
    _requires_grad(found, False)
    return found


def _requires_grad(params: list[torch.nn.Parameter], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


@torch.no_grad()
def _update_ema(ema: Any, model: Any, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, on parameters; buffers are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def _check_finite(total: torch.Tensor, parts: dict[str, torch.Tensor], index: int,
                  phase: str = "adapt", terms: list[ActiveTerm] = ()) -> None:
    """Stop with the step and the term (its recipe path and plugin) that produced a NaN/Inf."""
    if bool(torch.isfinite(total)):
        return
    bad = [name for name, value in parts.items() if not bool(torch.isfinite(value).all())]
    where = "; ".join(t.describe() for t in terms if t.label in bad)
    raise TrainingDiverged(
        f"{phase} step {index}: the loss became non-finite (term(s): {', '.join(bad) or 'total'})."
        + (f" Where: {where}." if where else "") + " Lower the learning rate or the term's weight.")


def _log(state: Run, kind: str, index: int, values: dict[str, torch.Tensor],
         every: int) -> dict[str, float]:
    """Append a JSON record on the first step and every ``every`` steps after it.

    Only logged steps convert tensors to floats, so unlogged steps need no device sync.
    """
    if index != 0 and (index + 1) % every != 0:
        return {}
    values = state.dist.average_values(values)  # a multi-process run logs the batch means
    logged = {k: float(v) for k, v in values.items()}
    if logged:
        state.folder.append_log({"phase": state.phase, "step": index, "kind": kind, **logged,
                                 "time": round(time.time(), 3)})
    return logged


# ---------------------------------------------------------------------------------------------
# Samples and checkpoints


def _sample_latents(state: Run) -> torch.Tensor:
    """Fixed sample-grid latents, drawn from their own seeded generator (not the run's RNG)."""
    out = state.validated.recipe.output
    gen = torch.Generator().manual_seed(state.validated.recipe.seed + 1)
    G_s = state.components.generator
    z = torch.randn(out.n_samples, G_s.z_dim, generator=gen).to(state.device)
    with torch.no_grad():
        return G_s.mapping(z, truncation_psi=out.truncation)


def _save_samples(state: Run, done: int, ws: torch.Tensor | None = None) -> None:
    """samples/step-NNNNNN.png: row 1 G_s(w), row 2 G_t(w) (EMA), same latents and noise
    (with ``output.mean_w_from_layer``, row 2's fine layers take the mean w, see
    :func:`gan_adapt.engine.grid_latents.with_mean_layers`)."""
    from gan_adapt.io.images import save_grid

    if not state.folder.writer:
        return
    ws = _sample_latents(state) if ws is None else ws
    G_s = state.components.generator
    adapted_ws = with_mean_layers(ws, G_s.w_avg, state.validated.recipe.output.mean_w_from_layer)
    with torch.no_grad(), eager():  # its batch would only add a compilation
        source = G_s.synthesis(ws, noise_mode="const")
        adapted = state.G_ema.synthesis(adapted_ws, noise_mode="const")
    save_grid(torch.cat([source, adapted]), state.folder.samples / f"step-{done:06d}.png",
              nrow=ws.shape[0])


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _term_states(terms: list[ActiveTerm]) -> dict[str, Any]:
    """State of the terms that own trainable parts (``discriminator_parameters``)."""
    return {t.label: t.impl.state_dict() for t in terms
            if hasattr(t.impl, "discriminator_parameters")}


def _save_checkpoint(state: Run, done: int, g_opt: Any, d_opt: Any) -> None:
    c = state.components
    previous = state.folder.list_checkpoints()
    first = step_of(previous[-1], ".pt") if previous else 0
    owned = {t.label: t.impl for t in c.losses if isinstance(t.impl, torch.nn.Module)}
    check_weights({"G_t": state.G_t, "G_ema": state.G_ema, "D": c.discriminator, **owned},
                  first, done - 1, lambda: _terms_between(state, first, done - 1))
    checkpoint = {
        "step": done,
        "G_t": state.G_t.state_dict(),
        "G_ema": state.G_ema.state_dict(),
        "D": c.discriminator.state_dict() if c.discriminator is not None else None,
        "terms": _term_states(c.losses),
        "g_opt": g_opt.state_dict(),
        "d_opt": d_opt.state_dict() if d_opt is not None else None,
        "w_ref": state.w_ref.cpu() if state.w_ref is not None else None,
        "rng": _rng_state(),
        "identity": state.folder.identity,  # what run this is (checked on resume)
    }
    state.folder.save_checkpoint(checkpoint, done, state.validated.recipe.output.keep_checkpoints)


def _terms_between(state: Run, first: int, last: int) -> list[str]:
    """Labels of the adapt terms applied at any step of ``first``..``last``."""
    labels: list[str] = []
    for index in range(first, last + 1):
        kind = _step_kind(state.validated.recipe.adapt.schedule, index)
        labels += [t.label for t in state.components.losses
                   if t.applies(kind.name, index) and t.label not in labels]
    return labels


def _record_failure(state: Run, exc: BaseException) -> None:
    """Mark the run folder failed (or interrupted), record why in run.json, and tell the user
    what the folder keeps (as a note on a GanAdaptError, which the CLI prints)."""
    status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    checkpoints = state.folder.list_checkpoints()
    last = f"checkpoints/{checkpoints[-1].name}" if checkpoints else None
    error = str(exc) if isinstance(exc, GanAdaptError) else f"{type(exc).__name__}: {exc}"
    try:
        state.folder.update_meta(status=status, error=error, last_checkpoint=last,
                                 failed_at={"phase": state.phase, "step": state.step})
    except OSError:  # the disk may be full: run.json then keeps its previous content
        pass
    if not isinstance(exc, GanAdaptError):
        return
    root = state.folder.root
    kept = (f"keeps its last complete checkpoint, {last}" if last
            else "has no checkpoint yet (a resume starts its phase over)")
    if isinstance(exc, TrainingDiverged):
        exc.add_note(f"The run folder {root} is marked failed and {kept}. A resumed run would "
                     "replay the same steps: start a new run with the lower value instead.")
    elif isinstance(exc, OutOfMemory):
        exc.add_note(f"The run folder {root} is marked failed and {kept}. A resume keeps the "
                     "recipe, so it helps only if other processes held the memory (gan-adapt "
                     f"run --resume {root}); to use a memory mode, start a new run.")
    else:
        exc.add_note(f"The run folder {root} is marked failed and {kept}. Once the cause is "
                     f"fixed, continue with: gan-adapt run --resume {root}")


def _load_latest_checkpoint(state: Run, g_opt: Any, d_opt: Any) -> int:
    """Restore the newest readable checkpoint; return the step to continue from (0: none)."""
    for path in reversed(state.folder.list_checkpoints()):
        try:
            checkpoint = state.folder.load_state(path, state.device)
        except UnsafeFileError:
            raise
        except CheckpointError:
            continue  # unreadable (should not happen with atomic writes): try an older one
        state.folder.check_identity(path, checkpoint)
        c = state.components
        try:
            state.G_t.load_state_dict(checkpoint["G_t"])
            state.G_ema.load_state_dict(checkpoint["G_ema"])
            if c.discriminator is not None:
                c.discriminator.load_state_dict(checkpoint["D"])
            for term in c.losses:
                if term.label in checkpoint["terms"]:
                    term.impl.load_state_dict(checkpoint["terms"][term.label])
            g_opt.load_state_dict(checkpoint["g_opt"])
            if d_opt is not None and checkpoint["d_opt"] is not None:
                d_opt.load_state_dict(checkpoint["d_opt"])
            if checkpoint["w_ref"] is not None:
                check_w_ref(checkpoint["w_ref"], c.generator, path)
                state.w_ref = checkpoint["w_ref"].to(state.device)
            check_rng_state(checkpoint["rng"], path)
            _set_rng_state(checkpoint["rng"])
            step = int(checkpoint["step"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise CheckpointError(
                f"{path} does not fit this run's networks ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}). Was the run "
                "folder's recipe.toml edited, or the checkpoint copied from another run? A "
                "resume continues the run exactly as it was started.") from None
        state.folder.truncate_log(lambda r: r.get("phase") != "adapt" or r["step"] < step)
        return step
    return 0


def _stop(state: Run, status: str) -> RunResult:
    state.folder.update_meta(status=status, steps_done=state.step + 1)
    return RunResult(state.folder.root, status, state.step + 1)


# ---------------------------------------------------------------------------------------------
# Outputs


def _final_metrics(folder: RunFolder, last: int = 10) -> dict[str, float]:
    """Mean of each term over its last ``last`` logged adapt values."""
    series: dict[str, list[float]] = {}
    for record in folder.read_log():
        if record.get("phase") != "adapt":
            continue
        for key, value in record.items():
            if key not in ("phase", "step", "kind", "time") and isinstance(value, (int, float)):
                series.setdefault(key, []).append(float(value))
    return {k: sum(v[-last:]) / len(v[-last:]) for k, v in series.items()}


def _write_outputs(state: Run) -> RunResult:
    """The adapted generator, metrics and loss curves; the generator folder is written last."""
    from gan_adapt.engine.outputs import plot_loss_curves, save_adapted_generator

    folder = state.folder
    if not folder.writer:  # another process of a multi-process run writes the outputs
        return RunResult(folder.root, "done", state.validated.recipe.adapt.steps)
    metrics = _final_metrics(folder)
    files.write_json(folder.root / "metrics.json", metrics)
    outputs = {"metrics": "metrics.json", "log": "log.jsonl", "recipe": "recipe.toml"}
    if plot_loss_curves(folder.read_log(), folder.root / "loss_curves.png"):
        outputs["loss_curves"] = "loss_curves.png"
    outputs.update(save_adapted_generator(state.G_ema, folder.generator, w_ref=state.w_ref))
    samples = folder.list_samples()
    if samples:
        outputs["samples"] = str(samples[-1].relative_to(folder.root))
    result = RunResult(folder.root, "done", state.validated.recipe.adapt.steps, outputs,
                       {k: v for k, v in metrics.items() if math.isfinite(v)})
    files.write_json(folder.root / "result.json", {"status": "done", "outputs": outputs,
                                                   "metrics": metrics})
    folder.update_meta(status="done", steps_done=state.validated.recipe.adapt.steps)
    return result


def prepare(validated: ValidatedRecipe, plugin_set: Any, device: torch.device) -> Components:
    """Fetch weights and build the components: every user-input error surfaces here, before
    the run folder exists."""
    from gan_adapt.engine.weights_check import ensure_weights

    ensure_weights(validated, plugin_set)
    return build_components(validated, plugin_set, device)
