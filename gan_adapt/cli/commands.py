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

from gan_adapt._version import __version__
from gan_adapt.errors import GanAdaptError

_plugin_cache: dict[Any, Any] = {}


def get_plugins(plugins_dir: tuple[str, ...] | str | None = None, *,
                collect: bool = True, pinned: dict[str, dict[str, str]] | None = None) -> Any:
    """Load (once per plugins folder) the plugin set; warn about plugins that failed.

    ``collect`` runs the registration hooks now (commands that use the registry need them);
    two plugins claiming one name then raise PluginConflict (exit code 2) unless the command's
    ``--prefer-plugin`` settles it.
    """
    from gan_adapt.plugin_host.loading import load_plugins

    folders = [plugins_dir] if isinstance(plugins_dir, str) else list(plugins_dir or ())
    prefer = tuple(_current_meta().get(PREFER_KEY, ()))
    pins = tuple(sorted((f, tuple(sorted(p.items()))) for f, p in (pinned or {}).items()))
    key = (tuple(str(Path(f).resolve()) for f in folders), prefer, pins)
    if key not in _plugin_cache:
        _plugin_cache[key] = (load_plugins(folders, prefer=prefer, pinned=pinned), set())
    plugin_set, warned = _plugin_cache[key]
    if collect:
        plugin_set.collect()
    for failure in plugin_set.failures:
        if failure.name not in warned:
            warned.add(failure.name)
            what = "failed to register" if failure.imported else "was not loaded"
            click.echo(f"warning: plugin {failure.name!r} {what}: {failure.error}", err=True)
    if collect:
        plugin_set.raise_conflicts()
    return plugin_set


def get_run_plugins(run_dirs: str | Path | tuple[str, ...] | list[str],
                    plugins_dir: tuple[str, ...] = (), *, collect: bool = True,
                    resume: bool = False, allow_changed: bool = False) -> Any:
    """:func:`get_plugins` for a command on existing run folder(s): also the ``--plugins-dir``
    folders each run was made with, if this user made it here (see
    :mod:`gan_adapt.plugin_host.provenance`); otherwise a note names the options to add.

    The remembered folders are pinned to the files the run recorded: an added, changed or
    removed file is refused before anything is imported. On ``resume`` the folders given
    again are pinned too (the resume must run the recorded code); ``allow_changed`` lifts the
    pins, with a warning naming each difference."""
    from gan_adapt.plugin_host.loading import PluginChanged, check_pinned, read_sources
    from gan_adapt.plugin_host.provenance import pinned_files, remembered_plugin_dirs

    folders = list(plugins_dir)
    pinned: dict[str, dict[str, str]] = {}
    for run_dir in [run_dirs] if isinstance(run_dirs, (str, Path)) else run_dirs:
        remembered, note = remembered_plugin_dirs(run_dir, tuple(folders))
        if note:
            click.echo(f"note: {note}", err=True)
        pinned.update(pinned_files(run_dir, remembered + (folders if resume else [])))
        folders += remembered
    if not allow_changed:
        return get_plugins(tuple(folders), collect=collect, pinned=pinned)
    for folder, pins in pinned.items():  # say what differs, before importing anything
        try:
            check_pinned(Path(folder), read_sources(Path(folder)), pins)
        except PluginChanged as exc:
            for change in exc.changes:
                click.echo(f"warning: loading changed plugin code: {change}", err=True)
    return get_plugins(tuple(folders), collect=collect)


PREFER_KEY = "gan_adapt.prefer_plugins"


def _current_meta() -> dict[str, Any]:
    ctx = click.get_current_context(silent=True)
    return ctx.meta if ctx is not None else {}


def _remember_preference(ctx: click.Context, param: Any, value: tuple[str, ...]) -> None:
    if value:
        ctx.meta[PREFER_KEY] = tuple(value)


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


_plugins_dir = click.option(
    "--plugins-dir", type=click.Path(file_okay=False), multiple=True,
    help="Also load every .py file of this folder as a plugin, or, for a folder with a "
         "pyproject.toml, the plugin package it declares, without installing it (repeatable).")
_prefer_plugin = click.option(
    "--prefer-plugin", multiple=True, metavar="NAME", expose_value=False,
    callback=_remember_preference,
    help="When two plugins register one name, this plugin (name, distribution or file path) "
         "wins (repeatable; also $GAN_ADAPT_PREFER_PLUGINS).")


def table_console(file: Any = None) -> Any:
    """A rich Console for printed tables: the terminal's width on a terminal; elsewhere (a pipe,
    a file, CI logs) wide enough that no value is cut or wrapped (rich's default would be 80
    columns: plugin names, URLs and metric names were cut)."""
    from rich.console import Console

    stream = file or sys.stdout
    if hasattr(stream, "isatty") and stream.isatty():
        return Console(file=stream)
    return Console(file=stream, width=100_000, soft_wrap=True)


def plugins_dir_option(command: Any) -> Any:
    """``--plugins-dir`` (passed to the command) and ``--prefer-plugin`` (read by get_plugins)."""
    return _plugins_dir(_prefer_plugin(command))


def _threads_value(ctx: click.Context, param: Any, value: str | None) -> str | None:
    from gan_adapt.recipe.threads import parse_threads

    if value is None:
        return None
    try:
        parse_threads(value)
    except GanAdaptError as exc:
        raise click.BadParameter(str(exc).removeprefix("--threads "), ctx, param) from None
    return value


threads_option = click.option(
    "--threads", default=None, metavar="N|auto", callback=_threads_value,
    help="CPU threads (default: the recipe's [run] threads, auto: OMP_NUM_THREADS if set, "
         "1 on machines with at most 2 cores, else the idle cores; see docs/performance.md).")
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
@click.option("--allow-changed-plugins", is_flag=True,
              help="With --resume: continue even though plugin code changed since the run "
                   "started (otherwise refused).")
@click.option("--check-plugins", is_flag=True,
              help="Debug a plugin: also check that every term's gradient reaches what it "
                   "trains and that embeddings are finite and unit-length (slower).")
@threads_option
def run(recipe: str | None, out: str | None, target: str | None, overrides: tuple[str, ...],
        resume: str | None, plugins_dir: tuple[str, ...], device: str | None,
        allow_output_changes: bool, tensorboard: bool, allow_changed_plugins: bool,
        check_plugins: bool, threads: str | None) -> None:
    """Adapt a generator as RECIPE says, writing everything into one run folder."""
    from gan_adapt.api import public as api
    from gan_adapt.engine.distributed import current
    from gan_adapt.plugin_host.contracts import checking

    if resume is not None and Path(resume, "plugins.json").is_file():
        from gan_adapt.plugin_host.provenance import check_resume_plugins

        plugin_set = get_run_plugins(resume, plugins_dir, resume=True,
                                     allow_changed=allow_changed_plugins)
        for change in check_resume_plugins(resume, plugin_set, allow_changed_plugins):
            click.echo(f"warning: resuming with changed plugin code: {change}", err=True)
    else:
        plugin_set = get_plugins(plugins_dir)
    with checking(check_plugins):
        if resume is not None:
            if overrides or target or tensorboard:
                raise GanAdaptError("--resume continues a run exactly as it was started; --set, "
                                    "--target and --tensorboard cannot change it (start a new "
                                    "run instead)")
            result = api.resume(resume, device=device,
                                allow_output_changes=allow_output_changes, plugins=plugin_set,
                                threads=threads)
        elif recipe is None:
            raise GanAdaptError("give a RECIPE file to run (or --resume RUN_DIR)")
        else:
            tracking = ["output.tensorboard=true"] if tensorboard else []
            result = api.run(recipe, out=out, target=target,
                             overrides=[*overrides, *tracking], device=device,
                             plugins=plugin_set, threads=threads)
    if not current().is_main:  # under torchrun, rank 0 reports
        return
    if result.status == "interrupted":
        click.echo(f"Interrupted after step {result.steps_done}; a checkpoint was saved.\n"
                   f"Continue with: {resume_command(result.folder, plugin_set)}", err=True)
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

    Settings that are valid but can never take effect are reported as warnings; deliberate ones
    that only cost nothing (a paper's idle R1 interval) as one note each, however many recipes
    share them."""
    from gan_adapt.errors import RecipeError
    from gan_adapt.recipe.schema import read_and_validate
    from gan_adapt.recipe.warnings import idle_setting_notes, ineffective_settings

    plugin_set = get_plugins(plugins_dir)
    problems: list[str] = []
    failed = []
    notes: dict[str, list[str]] = {}  # note -> the recipes it applies to
    for path in recipes:
        try:
            validated = read_and_validate(path, plugin_set, overrides=list(overrides))
        except RecipeError as exc:
            failed.append(path)
            problems += exc.problems if len(recipes) == 1 else \
                [f"{path}: {problem}" for problem in exc.problems]
            continue
        for line in ineffective_settings(validated):
            click.echo(f"{path}: warning: {line}", err=True)
        for line in idle_setting_notes(validated):
            notes.setdefault(line, []).append(path)
        if show:
            from gan_adapt.recipe.show import resolved_toml

            click.echo(resolved_toml(validated))
            continue
        n = len(validated.params)
        click.echo(f"{path}: OK (recipe {validated.recipe.name!r}, {n} components)")
    for line, paths in notes.items():
        where = paths[0] if len(paths) == 1 else f"{len(paths)} recipes: {', '.join(paths)}"
        click.echo(f"note: {line} ({where})", err=True)
    if failed:  # one count for everything: the problems, each named with its recipe
        raise RecipeError(problems, failed[0] if len(recipes) == 1 else None)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def weights(as_json: bool) -> None:
    """List every pretrained weights file known by name: URL, size, sha256, cached or not."""
    from gan_adapt.cli.weights_catalog import known_weights, render_table

    rows = known_weights()
    if as_json:
        import json

        click.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    table_console().print(render_table(rows))


@cli.command()
@plugins_dir_option
@click.option("--check", is_flag=True,
              help="Also import every component's lazy target and report each that fails "
                   "(exit code 1 if any plugin or component is broken).")
def plugins(plugins_dir: tuple[str, ...], check: bool) -> None:
    """List loaded plugins, their versions and what each registered."""
    from rich.table import Table

    plugin_set = get_plugins(plugins_dir, collect=False)
    registry = plugin_set.collect()
    table = Table("plugin", "version", "origin", "components")
    for name, info in plugin_set.plugins.items():
        table.add_row(name, info.version, info.origin,
                      ", ".join(f"{k}:{n}" for k, n in info.components) or "-")
    console = table_console()
    console.print(table)
    for failure in plugin_set.failures:
        what = "failed to register" if failure.imported else "not loaded"
        console.print(f"[red]{what}[/red] {failure.name}: {failure.error}", markup=True,
                      highlight=False)
    plugin_set.raise_conflicts()
    if check:
        _check_components(registry, len(plugin_set.failures))


def _check_components(registry: Any, failed_plugins: int) -> None:
    """``plugins --check``: import every lazy target; one line per broken component; a
    PluginError (exit code 1) counting the problems, if any."""
    from gan_adapt.errors import PluginError

    components = registry.components()
    broken = []
    for component in components:
        problem = component.import_problem()
        if problem:
            broken.append(component)
            click.echo(f"broken: {component.describe_broken(problem)}", err=True)
    if broken or failed_plugins:
        parts = [f"{len(broken)} component(s) cannot be imported"] if broken else []
        parts += [f"{failed_plugins} plugin(s) failed to load"] if failed_plugins else []
        raise PluginError(" and ".join(parts) + " (see above)")
    click.echo(f"All {len(components)} components import.")


@cli.command()
@click.argument("kind", required=False)
@plugins_dir_option
def components(kind: str | None, plugins_dir: tuple[str, ...]) -> None:
    """List registered components (of one KIND) with their parameters and defaults."""
    from rich.table import Table

    from gan_adapt.plugin_host.registry import KINDS
    from gan_adapt.recipe.schema import suggest

    if kind is not None and kind not in KINDS:
        raise GanAdaptError(f"unknown component kind {kind!r}{suggest(kind, list(KINDS))}; "
                            f"kinds are {', '.join(KINDS)}")
    plugin_set = get_plugins(plugins_dir)
    table = Table("kind", "name", "plugin", "parameters", "description")
    broken = []
    for component in plugin_set.registry.components(kind):
        problem = component.import_problem()  # a misspelt lazy target must not hide the rest
        if problem:
            broken.append(component.describe_broken(problem))
            continue
        table.add_row(component.kind, component.name, component.source,
                      describe_params(component.params_model), component.doc)
    table_console().print(table)
    for line in broken:
        click.echo(f"warning: {line} (not listed; `gan-adapt plugins --check` checks them all)",
                   err=True)


@cli.command("new-plugin")
@click.argument("name")
@click.option("--out", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder to write the package into.")
def new_plugin(name: str, out: str) -> None:
    """Write a complete plugin package NAME: entry point, a loss, a search objective, an
    encoder, a recipe on tiny offline models, and tests using gan_adapt.testing."""
    from gan_adapt.cli.scaffold import create, names

    root = create(name, out)
    n = names(name)
    recipe = root / "recipes" / (n["name"] + "-smoke.toml")
    click.echo(f"Wrote {root}\n  pytest {root / 'tests'}\n"
               f"  gan-adapt plugins --check --plugins-dir {root}\n"
               f"  gan-adapt run {recipe} --plugins-dir {root}\n"
               f"  pip install -e {root}   (then every command sees it, without --plugins-dir)")


def resume_command(folder: Any, plugin_set: Any) -> str:
    """``gan-adapt run --resume FOLDER`` plus the ``--plugins-dir`` folders the run loaded
    (a trusted run remembers them, but the command also works where the trust record does
    not reach: another GAN_ADAPT_HOME, another account)."""
    import shlex

    dirs = " ".join(f"--plugins-dir {shlex.quote(str(d))}"
                    for d in getattr(plugin_set, "folders", []))
    return f"gan-adapt run --resume {shlex.quote(str(folder))}" + (f" {dirs}" if dirs else "")


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


_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, turning user errors into clean messages.

    A user error prints its message and notes, without a traceback (``GAN_ADAPT_DEBUG=1``
    adds it, for plugin authors).
    """
    from gan_adapt.recipe.threads import prefer_passive_wait

    prefer_passive_wait()  # before torch loads OpenMP: waiting threads sleep, never spin
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
    except OSError as exc:
        if exc.filename is None:  # not about a file the user named: a bug, keep its traceback
            raise
        # A file or folder the system refused (permission, a file where a folder should be,
        # a full disk): the user's to fix, as one line.
        if os.environ.get("GAN_ADAPT_DEBUG"):
            traceback.print_exception(exc)
        click.echo(click.style("Error: ", fg="red", bold=True)
                   + f"cannot use {exc.filename}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    finally:  # main() may be called in-process (tests, notebooks): leave warnings as they were
        warnings.showwarning = previous_showwarning


if __name__ == "__main__":
    main()
