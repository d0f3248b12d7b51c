"""A fixture plugin that injects faults into a run: a term that raises, returns NaN or makes its
gradient overflow at a chosen step, and an observer that SIGKILLs the process at a chosen moment.

Loaded with ``--plugins-dir tests/reliability/plugins`` next to the toy plugin. It draws nothing
from the run's random generators, so a run that uses none of its faults is bit-identical to a run
without it.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from gan_adapt import hookimpl

__version__ = "0.0.1"

#: ``FAULT_KILL_AT=adapt:5`` (or ``search:2``) SIGKILLs the process FAULT_KILL_DELAY seconds
#: (default 0) after that step ended: with a delay the kill lands anywhere in what follows,
#: in the middle of a step, a sample grid or a checkpoint write.
KILL_AT_ENV = "FAULT_KILL_AT"
KILL_DELAY_ENV = "FAULT_KILL_DELAY"


class Fault:
    """A loss that behaves from step ``at`` on: ``raise``s, returns ``nan``, or returns 0 with an
    ``overflow``ing (NaN) gradient; before that it contributes exactly nothing."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        mode: Literal["raise", "nan", "overflow"] = Field(description="The fault to inject.")
        at: int = Field(0, ge=0, description="First step (0-based) of the phase that fails.")
        phase: Literal["search", "adapt"] = Field("adapt", description="The phase it fails in.")

    def __init__(self, params: Params, ctx) -> None:
        self.params = params

    def _armed(self, step) -> bool:
        return step.phase == self.params.phase and step.index >= self.params.at

    def __call__(self, step):
        zero = (step.fake * 0).sum()
        if not self._armed(step):
            return zero
        if self.params.mode == "raise":
            raise RuntimeError("injected failure")
        if self.params.mode == "nan":
            return zero + float("nan")
        # sqrt at 0: the value is 0, the gradient 1/(2 sqrt(0)) * 0 is NaN.
        return torch.sqrt((step.fake - step.fake.detach()).abs().sum())


class FaultyAdversarial(Fault):
    """An adversarial term whose discriminator loss fails (``mode = "raise"``) from step ``at``."""

    def discriminator_loss(self, step):
        if self._armed(step):
            raise ValueError("injected discriminator failure")
        return (step.fake * 0).sum()


@hookimpl
def register_losses(register):
    register("fault", Fault)
    register("faulty_adversarial", FaultyAdversarial)


@hookimpl
def register_search_objectives(register):
    register("fault", Fault)


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@hookimpl
def on_step_end(run, phase, step, values):
    wanted = os.environ.get(KILL_AT_ENV)
    if wanted != f"{phase}:{step}":
        return
    delay = float(os.environ.get(KILL_DELAY_ENV, "0"))
    if delay <= 0:
        _kill()
    timer = threading.Timer(delay, _kill)
    timer.daemon = True
    timer.start()
