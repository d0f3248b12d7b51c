"""``gan-adapt sweep``: run a sweep file (see :mod:`gan_adapt.sweep`)."""

from __future__ import annotations

import click

from gan_adapt.sweep.runner import run_sweep


def has_command(name: str) -> bool:
    """Whether a ``gan-adapt`` sub-command (possibly from a plugin) exists."""
    from gan_adapt.cli.commands import cli

    with click.Context(cli) as ctx:
        return cli.get_command(ctx, name) is not None


@click.command("sweep")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Sweep folder (default sweeps/<name>); running again resumes it.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default=None,
              help="Override the sweep file's backend.")
@click.option("--plugins-dir", "plugins_dirs", type=click.Path(file_okay=False), multiple=True,
              help="Load every .py file of this folder as a plugin in every run (repeatable).")
def sweep_command(sweep_file: str, out: str | None, backend: str | None,
                  plugins_dirs: tuple[str, ...]) -> None:
    """Run SWEEP_FILE: base recipe(s) x targets x override grids x seeds, then compare them."""
    run_sweep(sweep_file, out, backend, plugins_dirs=plugins_dirs, has_command=has_command)
