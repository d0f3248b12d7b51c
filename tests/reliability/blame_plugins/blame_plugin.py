"""A fixture plugin that fails where no loss value is computed: in an observer hook, in a term's
``select_parameters`` and inside a backward pass (a custom autograd Function). Each failure must
still be blamed on this plugin, with the hook or the terms, by the engine's error message.

Loaded with ``--plugins-dir tests/reliability/blame_plugins``. ``BLAME_OBSERVER`` (env) picks the
observer failure: ``on_run_start``, ``on_run_end`` or ``on_step_end:<phase>:<step>``; unset, the
observers do nothing.
"""

from __future__ import annotations

import os

import torch
from pydantic import BaseModel, ConfigDict, Field

from gan_adapt import hookimpl

OBSERVER_ENV = "BLAME_OBSERVER"


class _FromStep:
    """A term that contributes exactly nothing, and fails in some way from step ``at`` on."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        at: int = Field(0, ge=0, description="First step (0-based) at which it fails.")

    def __init__(self, params: Params, ctx) -> None:
        self.at = params.at

    def __call__(self, step):
        return (step.fake * 0).sum()


class SelectFails(_FromStep):
    """Its ``select_parameters`` (StyleGAN-NADA's hook for adaptive layers) raises."""

    def select_parameters(self, step):
        if step.index >= self.at:
            raise KeyError("no layer named 'b64'")
        return None


def _identity_whose_backward_raises(make_error):
    """A custom autograd Function: identity forward, a backward that raises ``make_error()``
    (a buggy custom gradient, or an allocation failing on a too-large step)."""

    class RaisingBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            raise make_error()

    return RaisingBackward


def _cuda_out_of_memory():
    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


_RaisingBackward = _identity_whose_backward_raises(
    lambda: ArithmeticError("injected backward failure"))
_OutOfMemoryBackward = _identity_whose_backward_raises(_cuda_out_of_memory)


class BackwardFails(_FromStep):
    """Its value goes through a custom autograd Function whose backward raises."""

    def __call__(self, step):
        value = super().__call__(step)
        return _RaisingBackward.apply(value) if step.index >= self.at else value


class OutOfMemory(_FromStep):
    """Runs out of memory from step ``at`` on: in its value on even steps, in the backward
    pass on odd ones."""

    def __call__(self, step):
        value = super().__call__(step)
        if step.index < self.at:
            return value
        if step.index % 2 == 0:
            raise _cuda_out_of_memory()
        return _OutOfMemoryBackward.apply(value)


@hookimpl
def register_losses(register):
    register("select_fails", SelectFails)
    register("backward_fails", BackwardFails)
    register("out_of_memory", OutOfMemory)


@hookimpl
def register_search_objectives(register):
    register("backward_fails", BackwardFails)


def _fail_if(wanted: str) -> None:
    if os.environ.get(OBSERVER_ENV) == wanted:
        raise ValueError(f"injected observer failure ({wanted})")


@hookimpl
def on_run_start(run):
    _fail_if("on_run_start")


@hookimpl
def on_step_end(run, phase, step, values):
    _fail_if(f"on_step_end:{phase}:{step}")


@hookimpl
def on_run_end(run, result):
    _fail_if("on_run_end")
