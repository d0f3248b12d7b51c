"""The default plugin that adds the ``eval``, ``compare`` and ``report`` commands.

Importing it is cheap (click only); the commands import torch when they run.
"""

from __future__ import annotations

from typing import Any

from gan_adapt.plugin_host.markers import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from gan_adapt.cli.evaluation import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)
