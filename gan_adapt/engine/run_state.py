"""What the loop carries from step to step (:class:`RunState`, which observer hooks see as
``run``) and what it hands back (:class:`RunOutcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gan_adapt.engine.build import Components
from gan_adapt.engine.distributed import Distributed
from gan_adapt.engine.distributed import current as current_distributed
from gan_adapt.engine.run_folder import RunFolder
from gan_adapt.recipe.schema import ValidatedRecipe


@dataclass
class RunState:
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
class RunOutcome:
    """What a finished (or interrupted) run produced."""

    folder: Path
    status: str  # "done" or "interrupted"
    steps_done: int
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
