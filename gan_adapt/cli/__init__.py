"""The command line: the ``gan-adapt`` group and every built-in command (top layer)."""

from gan_adapt.cli.commands import cli, get_plugins, get_run_plugins, main

__all__ = ["cli", "main", "get_plugins", "get_run_plugins"]
