"""The default plugin that adds the commands of the services and components: ``eval``,
``compare``, ``report``, ``sample``, ``convert`` and ``sweep``.

They register through the same hook as a plugin's commands (``register_commands``). Importing
this module is cheap (click only); each command imports torch when it runs.
"""

from __future__ import annotations

from typing import Any

from gan_adapt.plugin_host.markers import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from gan_adapt.cli import evaluation, generators
    from gan_adapt.cli.sweep import sweep_command

    for command in (*generators.COMMANDS, sweep_command, *evaluation.COMMANDS):
        cli.add_command(command)
