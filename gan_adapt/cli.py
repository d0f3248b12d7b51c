"""The ``gan-adapt`` command line.

Built-in commands are defined here; plugins add more through the ``register_commands`` hook.
Plugins are loaded lazily: only when a command needs the registry, or a command name is not a
built-in one, so ``gan-adapt --help`` and ``import gan_adapt`` stay fast.

Every :class:`~gan_adapt.errors.GanAdaptError` is printed as a clear message without a
traceback, with the error's exit code (2 for recipe problems).
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import click

from gan_adapt import __version__
from gan_adapt.errors import GanAdaptError

_plugin_cache: dict[Any, Any] = {}


def get_plugins(plugins_dir: tuple[str, ...] | str | None = None, *,
                collect: bool = True) -> Any:
    """Load (once per plugins folder) the plugin set; warn about plugins that failed.

    ``collect`` runs the registration hooks now (commands that use the registry need them).
    """
    from gan_adapt.plugins import load_plugins

    folders = [plugins_dir] if isinstance(plugins_dir, str) else list(plugins_dir or ())
    key = tuple(str(Path(f).resolve()) for f in folders)
    if key not in _plugin_cache:
        _plugin_cache[key] = (load_plugins(folders), set())
    plugin_set, warned = _plugin_cache[key]
    if collect:
        plugin_set.registry  # noqa: B018 - runs the registration hooks
    for failure in plugin_set.failures:
        if failure.name not in warned:
            warned.add(failure.name)
            click.echo(f"warning: plugin {failure.name!r} was not loaded: {failure.error}",
                       err=True)
    return plugin_set


class PluginGroup(click.Group):
    """A click group that asks plugins for extra commands only when they are needed."""

    _plugins_added = False

    def _add_plugin_commands(self) -> None:
        if self._plugins_added:
            return
        self._plugins_added = True
        try:
            get_plugins(collect=False).hook.register_commands(cli=self)
        except Exception as exc:  # a broken plugin must not break the CLI
            click.echo(f"warning: a plugin failed to add commands: {exc}", err=True)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None:
            self._add_plugin_commands()
            command = super().get_command(ctx, name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return super().list_commands(ctx)


plugins_dir_option = click.option(
    "--plugins-dir", type=click.Path(file_okay=False), multiple=True,
    help="Also load every .py file of this folder as a plugin (repeatable).")
set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a recipe value, e.g. --set adapt.steps=100 (values are TOML literals).")


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gan-adapt")
def cli() -> None:
    """gan-adapt: one-shot, few-shot and text-guided adaptation of pretrained GANs."""


@cli.command()
@click.argument("recipe", required=False, type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run folder (default runs/<recipe>-<timestamp>).")
@click.option("--target", default=None, metavar="IMAGE_OR_TEXT",
              help="Target image, folder of images, or text; replaces the recipe's target.")
@set_option
@click.option("--resume", type=click.Path(file_okay=False), default=None, metavar="RUN_DIR",
              help="Continue an interrupted run from its last checkpoint.")
@plugins_dir_option
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
              help="Where to run (default: the recipe's `device`, normally auto).")
@click.option("--allow-output-changes", is_flag=True,
              help="With --resume: accept an edited [output] section of the folder's recipe "
                   "(it cannot change the results).")
@click.option("--tensorboard", is_flag=True,
              help="Also log to TensorBoard in RUN_DIR/tensorboard (output.tensorboard=true).")
def run(recipe: str | None, out: str | None, target: str | None, overrides: tuple[str, ...],
        resume: str | None, plugins_dir: tuple[str, ...], device: str | None,
        allow_output_changes: bool, tensorboard: bool) -> None:
    """Adapt a generator as RECIPE says, writing everything into one run folder."""
    from gan_adapt import api
    from gan_adapt.engine.distributed import current

    plugin_set = get_plugins(plugins_dir)
    if resume is not None:
        if overrides or target or tensorboard:
            raise GanAdaptError("--resume continues a run exactly as it was started; --set, "
                                "--target and --tensorboard cannot change it (start a new run "
                                "instead)")
        result = api.resume(resume, device=device, allow_output_changes=allow_output_changes,
                            plugins=plugin_set)
    elif recipe is None:
        raise GanAdaptError("give a RECIPE file to run (or --resume RUN_DIR)")
    else:
        tracking = ["output.tensorboard=true"] if tensorboard else []
        result = api.run(recipe, out=out, target=target, overrides=[*overrides, *tracking],
                         device=device, plugins=plugin_set)
    if not current().is_main:  # under torchrun, rank 0 reports
        return
    if result.status == "interrupted":
        click.echo(f"Interrupted after step {result.steps_done}; a checkpoint was saved.\n"
                   f"Continue with: gan-adapt run --resume {result.folder}", err=True)
        sys.exit(130)
    click.echo(f"Done: {result.folder}")
    for key, path in result.paths.items():
        click.echo(f"  {key:22s} {path.relative_to(result.folder)}")


@cli.command()
@click.argument("recipes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@set_option
@plugins_dir_option
@click.option("--show", is_flag=True,
              help="Print each recipe fully resolved, as TOML: extends merged, --set applied, "
                   "every default filled in (itself a valid recipe).")
def validate(recipes: tuple[str, ...], overrides: tuple[str, ...],
             plugins_dir: tuple[str, ...], show: bool) -> None:
    """Check RECIPES (and overrides) without building any model; report every problem.

    Settings that are valid but can never take effect are reported as warnings."""
    from gan_adapt.errors import RecipeError
    from gan_adapt.recipe import load
    from gan_adapt.recipe_warnings import ineffective_settings

    plugin_set = get_plugins(plugins_dir)
    failed = []
    for path in recipes:
        try:
            validated = load(path, plugin_set, overrides=list(overrides))
        except RecipeError as exc:
            click.echo(f"{path}: {exc}", err=True)
            failed.append(path)
            continue
        for line in ineffective_settings(validated):
            click.echo(f"{path}: warning: {line}", err=True)
        if show:
            from gan_adapt.recipe_show import resolved_toml

            click.echo(resolved_toml(validated))
            continue
        n = len(validated.params)
        click.echo(f"{path}: OK (recipe {validated.recipe.name!r}, {n} components)")
    if failed:
        raise RecipeError([f"{len(failed)} of {len(recipes)} recipe(s) are invalid: "
                           + ", ".join(failed)])


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def weights(as_json: bool) -> None:
    """List every pretrained weights file known by name: URL, size, sha256, cached or not."""
    from gan_adapt.weights_catalog import known_weights, render_table

    rows = known_weights()
    if as_json:
        import json

        click.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    from rich.console import Console

    Console(width=220).print(render_table(rows))


@cli.command()
@plugins_dir_option
def plugins(plugins_dir: tuple[str, ...]) -> None:
    """List loaded plugins, their versions and what each registered."""
    from rich.console import Console
    from rich.table import Table

    plugin_set = get_plugins(plugins_dir)
    table = Table("plugin", "version", "origin", "components")
    for name, info in plugin_set.plugins.items():
        table.add_row(name, info.version, info.origin,
                      ", ".join(f"{k}:{n}" for k, n in info.components) or "-")
    console = Console()
    console.print(table)
    for failure in plugin_set.failures:
        console.print(f"[red]not loaded[/red] {failure.name}: {failure.error}")


@cli.command()
@click.argument("kind", required=False)
@plugins_dir_option
def components(kind: str | None, plugins_dir: tuple[str, ...]) -> None:
    """List registered components (of one KIND) with their parameters and defaults."""
    from rich.console import Console
    from rich.table import Table

    from gan_adapt.registry import KINDS
    from gan_adapt.recipe import suggest

    if kind is not None and kind not in KINDS:
        raise GanAdaptError(f"unknown component kind {kind!r}{suggest(kind, list(KINDS))}; "
                            f"kinds are {', '.join(KINDS)}")
    plugin_set = get_plugins(plugins_dir)
    table = Table("kind", "name", "plugin", "parameters", "description")
    for component in plugin_set.registry.components(kind):
        table.add_row(component.kind, component.name, component.source,
                      describe_params(component.params_model), component.doc)
    Console(width=200).print(table)


def describe_params(model: Any) -> str:
    """``name: type = default`` for every field of a params model, one per line."""
    from pydantic_core import PydanticUndefined

    lines = []
    for name, field in model.model_fields.items():
        annotation = getattr(field.annotation, "__name__", None) or str(field.annotation)
        annotation = annotation.replace("typing.", "")
        default = "required" if field.default is PydanticUndefined and \
            field.default_factory is None else repr(field.get_default(call_default_factory=True))
        lines.append(f"{name}: {annotation} = {default}")
    return "\n".join(lines) or "-"


def _show_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None, *, fallback: Any) -> None:
    """gan-adapt's own warnings are notes to the user ("the image was downscaled"): print them
    as one plain line; warnings from other libraries go to ``fallback`` (Python's format)."""
    if Path(filename).resolve().is_relative_to(_PACKAGE_DIR):
        click.echo(f"note: {message}", err=True)
    else:
        fallback(message, category, filename, lineno, file, line)


_PACKAGE_DIR = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, turning user errors into clean messages.

    A user error prints its message and notes, without a traceback (``GAN_ADAPT_DEBUG=1``
    adds it, for plugin authors).
    """
    previous_showwarning = warnings.showwarning
    warnings.showwarning = functools.partial(_show_warning, fallback=previous_showwarning)
    try:
        cli.main(args=argv, prog_name="gan-adapt", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except GanAdaptError as exc:
        if os.environ.get("GAN_ADAPT_DEBUG"):
            traceback.print_exception(exc)
        click.echo(click.style("Error: ", fg="red", bold=True) + str(exc), err=True)
        for note in getattr(exc, "__notes__", ()):
            click.echo(note, err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    finally:  # main() may be called in-process (tests, notebooks): leave warnings as they were
        warnings.showwarning = previous_showwarning


if __name__ == "__main__":
    main()
