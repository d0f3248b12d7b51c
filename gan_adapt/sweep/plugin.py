"""Default plugin that adds the ``sweep`` command."""

from __future__ import annotations

from typing import Any

from gan_adapt.plugin_host.markers import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from gan_adapt.sweep.runner import sweep_command

    cli.add_command(sweep_command)
