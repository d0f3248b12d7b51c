"""Checkpoints of the adaptation: what one holds (networks, optimisers, the terms' own
state, w_ref, RNG states, the run's identity), writing one, and resuming from the newest."""

from __future__ import annotations

import random
from typing import Any

import torch

from gan_adapt.engine.build import ActiveTerm
from gan_adapt.engine.failure_notes import terms_between
from gan_adapt.engine.health import check_weights
from gan_adapt.engine.run_folder import step_of
from gan_adapt.engine.run_records import check_rng_state, check_w_ref
from gan_adapt.engine.run_state import RunState
from gan_adapt.errors import (
    CheckpointError,
    UnsafeFileError,
)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def term_states(terms: list[ActiveTerm]) -> dict[str, Any]:
    """State of the terms that own trainable parts (``discriminator_parameters``)."""
    return {t.label: t.impl.state_dict() for t in terms
            if hasattr(t.impl, "discriminator_parameters")}


def save_checkpoint(state: RunState, done: int, g_opt: Any, d_opt: Any) -> None:
    c = state.components
    previous = state.folder.list_checkpoints()
    first = step_of(previous[-1], ".pt") if previous else 0
    owned = {t.label: t.impl for t in c.losses if isinstance(t.impl, torch.nn.Module)}
    check_weights({"G_t": state.G_t, "G_ema": state.G_ema, "D": c.discriminator, **owned},
                  first, done - 1, lambda: terms_between(state, first, done - 1))
    checkpoint = {
        "step": done,
        "G_t": state.G_t.state_dict(),
        "G_ema": state.G_ema.state_dict(),
        "D": c.discriminator.state_dict() if c.discriminator is not None else None,
        "terms": term_states(c.losses),
        "g_opt": g_opt.state_dict(),
        "d_opt": d_opt.state_dict() if d_opt is not None else None,
        "w_ref": state.w_ref.cpu() if state.w_ref is not None else None,
        "rng": rng_state(),
        "identity": state.folder.identity,  # what run this is (checked on resume)
    }
    state.folder.save_checkpoint(checkpoint, done, state.validated.recipe.output.keep_checkpoints)


def load_latest_checkpoint(state: RunState, g_opt: Any, d_opt: Any) -> int:
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
            set_rng_state(checkpoint["rng"])
            step = int(checkpoint["step"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise CheckpointError(
                f"{path} does not fit this run's networks ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}). Was the run "
                "folder's recipe.toml edited, or the checkpoint copied from another run? A "
                "resume continues the run exactly as it was started.") from None
        state.folder.truncate_log(
            lambda r, step=step: r.get("phase") != "adapt" or r["step"] < step)
        return step
    return 0
