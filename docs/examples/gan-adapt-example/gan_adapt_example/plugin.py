"""The module the ``gan_adapt`` entry point names: every ``@hookimpl`` function of the plugin.

Registration hooks only bind names to factories; the heavy modules (torch models, torchvision)
are imported inside the hooks, so ``gan-adapt --help`` and ``gan-adapt validate`` stay fast.
"""

from __future__ import annotations

from typing import Any

import click

from gan_adapt.plugin import hookimpl


@hookimpl
def register_losses(register: Any) -> None:
    from gan_adapt_example.colour_moments import ColourMoments

    register("colour_moments", ColourMoments)


@hookimpl
def register_encoders(register: Any) -> None:
    from gan_adapt_example.resnet import resnet18

    register("resnet18", resnet18)


@click.command("colour-stats")
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
def colour_stats(image: str) -> None:
    """Print the per-channel mean and standard deviation of IMAGE (in [-1, 1])."""
    from gan_adapt.plugin import load_image
    from gan_adapt_example.colour_moments import channel_moments

    mean, std = channel_moments(load_image(image, 256))
    click.echo("mean " + " ".join(f"{v:.4f}" for v in mean[0].tolist()))
    click.echo("std  " + " ".join(f"{v:.4f}" for v in std[0].tolist()))


@hookimpl
def register_commands(cli: Any) -> None:
    cli.add_command(colour_stats)


# Observers: side effects only. This one writes example-report.json into the run folder.
_report: dict[str, Any] = {}


@hookimpl
def on_run_start(run: Any) -> None:
    _report.clear()
    _report.update(recipe=run.validated.recipe.name, steps_seen=0)


@hookimpl
def on_step_end(run: Any, phase: str, step: int, values: dict[str, float]) -> None:
    _report["steps_seen"] = _report.get("steps_seen", 0) + 1
    if values:  # only logged steps carry values
        _report[f"last_{phase}"] = {"step": step, **values}


@hookimpl
def on_run_end(run: Any, result: Any) -> None:
    from gan_adapt.plugin import write_json

    _report["status"] = getattr(result, "status", "?")
    write_json(run.folder.root / "example-report.json", _report)
