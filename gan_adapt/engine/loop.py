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
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from gan_adapt.engine.build import Components, build_components
from gan_adapt.engine.checkpoints import (
    load_latest_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from gan_adapt.engine.failure_notes import record_failure
from gan_adapt.engine.grid_latents import with_mean_layers
from gan_adapt.engine.latents import anchor_latents, broadcast_w, sample_latents
from gan_adapt.engine.observers import notify
from gan_adapt.engine.progress import PhaseProgress
from gan_adapt.engine.run_folder import RunFolder
from gan_adapt.engine.run_records import check_search_state
from gan_adapt.engine.run_state import RunOutcome, RunState
from gan_adapt.engine.updates import adapt_step, discriminator_parameters, search_step
from gan_adapt.generators.compiling import compile_networks, eager, uncompile_networks
from gan_adapt.io import atomic_files as files
from gan_adapt.recipe.parameter_groups import freeze
from gan_adapt.recipe.schedule import step_kind
from gan_adapt.recipe.schema import ValidatedRecipe


def run(validated: ValidatedRecipe, plugin_set: Any, folder: RunFolder, components: Components,
        *, resume: bool = False, progress_live: bool | None = None,
        threads: Any = None) -> RunOutcome:
    """Run (or resume) an adaptation whose components are built and folder created.

    ``threads`` is the :class:`~gan_adapt.recipe.threads.ThreadChoice` the run was started with (for
    its header; None: torch's current count)."""
    recipe = validated.recipe
    device = components.ctx.device
    state = RunState(validated, folder, components, plugin_set, device)
    if state.dist.is_main:
        print(run_header(validated, folder, device, threads, resume=resume), file=sys.stderr,
              flush=True)

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
                set_rng_state(saved["rng"])
                if not (folder.search / "target_vs_reference.png").exists():
                    _save_reference_image(state)  # killed between the two writes
            else:
                if resume:  # killed during the search: it starts again, and so does its log
                    folder.truncate_log(lambda r: r.get("phase") != "search")
                state.w_ref = _latent_search(state, progress_live)
                if state.interrupted:
                    return _stop(state, "interrupted")
                if folder.writer:
                    files.torch_save({"w_ref": state.w_ref.cpu(), "rng": rng_state(),
                                      "identity": folder.identity}, search_file)
                _save_reference_image(state)

        # ---- 2. Adaptation: G_t starts as a copy of G_s -----------------------------------
        state.phase = "adapt"
        adapt = recipe.adapt
        g_opt, d_opt, g_params, d_params = setup_adaptation(state)
        start = 0
        if resume:
            start = load_latest_checkpoint(state, g_opt, d_opt)
        if start == 0:
            folder.truncate_log(lambda r: r.get("phase") != "adapt")
            _save_samples(state, 0)
        sample_z = sample_latents(state)
        state.anchors = anchor_latents(state)
        set_precision(state, "adapt", adapt.precision)

        with PhaseProgress("adapt", adapt.steps, start, live=progress_live,
                           enabled=state.dist.is_main) as progress:
            for index in range(start, adapt.steps):
                state.step = index
                kind = step_kind(adapt.schedule, index)
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
                    save_checkpoint(state, done, g_opt, d_opt)
                if state.interrupted and done < adapt.steps:
                    return _stop(state, "interrupted")

        # ---- 3. Outputs ----------------------------------------------------------------------
        state.step = adapt.steps
        result = _write_outputs(state)
        notify(plugin_set, "on_run_end", run=state, result=result)
        return result
    except BaseException as exc:
        record_failure(state, exc)
        raise
    finally:
        signal.signal(signal.SIGINT, previous_handler)


def run_header(validated: ValidatedRecipe, folder: RunFolder | None, device: torch.device,
               threads: Any = None, *, resume: bool = False) -> str:
    """What a run prints first: recipe, run folder, device, threads, precision and the steps
    of each phase (so a user knows where to look and roughly what to expect)."""
    from gan_adapt.engine.precision import resolve_precision

    recipe = validated.recipe
    if threads is None:
        count, why = torch.get_num_threads(), "torch's setting"
    else:
        count, why = threads.threads, threads.reason
    phases, precisions = [], []
    if recipe.search is not None:
        phases.append(f"search {recipe.search.steps}")
        precisions.append(f"search {resolve_precision(recipe.search.precision, str(device))}")
    phases.append(f"adapt {recipe.adapt.steps}")
    precisions.append(f"adapt {resolve_precision(recipe.adapt.precision, str(device))}")
    source = Path(validated.source)
    lines = [
        f"{'Resuming' if resume else 'Running'} recipe {recipe.name!r} ({source})",
        f"  run folder  {folder.root if folder is not None else '(none)'}",
        f"  device      {device}, {count} thread{'s' if count != 1 else ''} ({why})",
        f"  precision   {', '.join(precisions)}",
        f"  steps       {', '.join(phases)}",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Latent search


def _latent_search(state: RunState, progress_live: bool | None) -> torch.Tensor:
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
    return broadcast_w(w.detach(), G_s.num_ws)


def _save_reference_image(state: RunState) -> None:
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


def setup_adaptation(state: RunState) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer | None,
                                          list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    """G_t (a trainable copy of G_s, minus the recipe's frozen groups) and its EMA on ``state``;
    returns the optimisers and the parameters they train: (g_opt, d_opt, g_params, d_params)."""
    adapt = state.validated.recipe.adapt
    G_t = copy.deepcopy(state.components.generator).train().requires_grad_(True)
    freeze(G_t, adapt.freeze)
    if not adapt.train_noise:  # keep the source's noise strengths (see Adapt.train_noise)
        for name, parameter in G_t.named_parameters():
            if name.endswith("noise_strength"):
                parameter.requires_grad_(False)
    state.G_t, state.G_ema = G_t, copy.deepcopy(G_t).eval().requires_grad_(False)
    d_params = discriminator_parameters(state.components.discriminator, state.components.losses)
    g_params = [p for p in G_t.parameters() if p.requires_grad]
    g_opt = torch.optim.Adam(g_params, lr=adapt.generator_optimizer.lr,
                             betas=adapt.generator_optimizer.betas)
    d_opt = (torch.optim.Adam(d_params, lr=adapt.discriminator_optimizer.lr,
                              betas=adapt.discriminator_optimizer.betas) if d_params else None)
    if adapt.compile:
        G_s, D = state.components.generator, state.components.discriminator
        compile_networks([G_t.synthesis, getattr(G_s, "synthesis", None), D])
    return g_opt, d_opt, g_params, d_params


def set_precision(state: RunState, phase: str, precision: str) -> None:
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
        warnings.warn(warning, stacklevel=1)  # same text and line for both phases: shown once
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


def _log(state: RunState, kind: str, index: int, values: dict[str, torch.Tensor],
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


def _save_samples(state: RunState, done: int, ws: torch.Tensor | None = None) -> None:
    """samples/step-NNNNNN.png: row 1 G_s(w), row 2 G_t(w) (EMA), same latents and noise
    (with ``output.mean_w_from_layer``, row 2's fine layers take the mean w, see
    :func:`gan_adapt.engine.grid_latents.with_mean_layers`), each row labelled (``source``,
    ``adapted`` and the step)."""
    from gan_adapt.io.images import save_labelled_grid

    if not state.folder.writer:
        return
    ws = sample_latents(state) if ws is None else ws
    G_s = state.components.generator
    adapted_ws = with_mean_layers(ws, G_s.w_avg, state.validated.recipe.output.mean_w_from_layer)
    with torch.no_grad(), eager():  # its batch would only add a compilation
        source = G_s.synthesis(ws, noise_mode="const")
        adapted = state.G_ema.synthesis(adapted_ws, noise_mode="const")
    save_labelled_grid(torch.cat([source, adapted]), state.folder.samples / f"step-{done:06d}.png",
                       nrow=ws.shape[0], row_labels=["source", f"adapted\nstep {done}"])


def _stop(state: RunState, status: str) -> RunOutcome:
    state.folder.update_meta(status=status, steps_done=state.step + 1)
    return RunOutcome(state.folder.root, status, state.step + 1)


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


def _write_outputs(state: RunState) -> RunOutcome:
    """The adapted generator, metrics and loss curves; the generator folder is written last."""
    from gan_adapt.engine.outputs import plot_loss_curves, save_adapted_generator

    folder = state.folder
    if not folder.writer:  # another process of a multi-process run writes the outputs
        return RunOutcome(folder.root, "done", state.validated.recipe.adapt.steps)
    metrics = _final_metrics(folder)
    files.write_json(folder.root / "metrics.json", metrics)
    outputs = {"metrics": "metrics.json", "log": "log.jsonl", "recipe": "recipe.toml"}
    if plot_loss_curves(folder.read_log(), folder.root / "loss_curves.png"):
        outputs["loss_curves"] = "loss_curves.png"
    outputs.update(save_adapted_generator(state.G_ema, folder.generator, w_ref=state.w_ref))
    samples = folder.list_samples()
    if samples:
        outputs["samples"] = str(samples[-1].relative_to(folder.root))
    result = RunOutcome(folder.root, "done", state.validated.recipe.adapt.steps, outputs,
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
