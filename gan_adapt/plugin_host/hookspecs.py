"""The hook specifications of gan-adapt's plugin system (pluggy, project name ``gan_adapt``).

A plugin is a module or object with functions marked ``@gan_adapt.hookimpl`` named after these
specs. Registration hooks receive a ``register`` callback and call it once per component::

    @hookimpl
    def register_losses(register):
        register("my_loss", MyLoss)          # MyLoss.Params is its pydantic params model

Nothing is built when a plugin is loaded: a component is only constructed when a recipe names it.
Observer hooks see a run's life cycle for side effects (logging, extra samples, uploads).
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("gan_adapt")


@hookspec
def register_generators(register: Any) -> None:
    """Register generator factories: ``register(name, factory, params=None)``."""


@hookspec
def register_discriminators(register: Any) -> None:
    """Register discriminator factories: ``register(name, factory, params=None)``."""


@hookspec
def register_encoders(register: Any) -> None:
    """Register image/text encoder factories (CLIP, DINO, ...): ``register(name, factory)``."""


@hookspec
def register_search_objectives(register: Any) -> None:
    """Register latent-search terms (used in the recipe's ``search.objective`` list)."""


@hookspec
def register_losses(register: Any) -> None:
    """Register adaptation loss terms and regularizers (used in ``adapt.losses``)."""


@hookspec
def register_transforms(register: Any) -> None:
    """Register image transforms (target domains of the quality benchmark):
    ``register(name, fn, caption=None)``, ``fn`` mapping ``[N, 3, H, W]`` in [-1, 1] to the
    same shape and range; ``caption`` is the text target of text recipes."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add sub-commands to the ``gan-adapt`` click group ``cli``."""


@hookspec
def on_run_start(run: Any) -> None:
    """Called once a run's components are built, before its first step."""


@hookspec
def on_step_end(run: Any, phase: str, step: int, values: dict[str, float]) -> None:
    """Called after every step of a phase (``"search"`` or ``"adapt"``) with the logged values."""


@hookspec
def on_run_end(run: Any, result: Any) -> None:
    """Called when a run finishes (``result`` holds the output paths) or stops on an error."""
