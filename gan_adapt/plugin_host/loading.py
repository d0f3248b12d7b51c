"""Plugin discovery and loading.

Three sources, loaded in this order, all through one pluggy ``PluginManager``:

1. the built-in default plugins (:data:`DEFAULT_PLUGINS`): gan-adapt's own networks, encoders
   and generic losses are plugins like any other;
2. installed packages that declare an entry point in the ``gan_adapt`` group;
3. loose ``*.py`` files in ``--plugins-dir`` folders (and ``$GAN_ADAPT_PLUGINS_DIR``), or, for
   a folder holding a ``pyproject.toml``, the plugin package it describes: its ``gan_adapt``
   entry points are read from the file and imported from the folder, so an author's package
   works without ``pip install -e`` (see :meth:`PluginSet.load_plugins_dir`).

``GAN_ADAPT_LOAD_PLUGINS`` (comma-separated names) restricts which entry-point plugins load; set
to an empty string it loads none. Files of an explicit ``--plugins-dir`` always load. Nothing
here runs at ``import gan_adapt``: the CLI calls :func:`load_plugins` when a command needs it.

A plugin that fails to import or to register is recorded in :attr:`PluginSet.failures` with its
name and the error, and the others still load. So is a plugin with a hook implementation whose
name is no hook of gan-adapt (a misspelt ``register_loss``: pluggy's ``check_pending`` rule, with
a did-you-mean) or a function named like a hook but not marked ``@hookimpl``.

Two plugins registering one component name (or two plugins of one name, such as an installed
copy of the file being edited in ``--plugins-dir``) are a *conflict*: using the registry raises
:class:`PluginConflict` naming both, unless a preference (``--prefer-plugin NAME``,
``$GAN_ADAPT_PREFER_PLUGINS``) says which one wins.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import importlib.util
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from gan_adapt._version import __version__
from gan_adapt.errors import GanAdaptError, PluginError
from gan_adapt.plugin_host import hook_tracing as tracing
from gan_adapt.plugin_host import hookspecs
from gan_adapt.plugin_host.registry import KINDS, Registry, make_register

ENTRY_POINT_GROUP = "gan_adapt"
LOAD_ENV = "GAN_ADAPT_LOAD_PLUGINS"
PLUGINS_DIR_ENV = "GAN_ADAPT_PLUGINS_DIR"
PREFER_ENV = "GAN_ADAPT_PREFER_PLUGINS"

#: Modules of the components that ship with gan-adapt.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "gan_adapt.generators.plugin",
    "gan_adapt.encoders.plugin",
    "gan_adapt.losses.plugin",
    "gan_adapt.evaluation.plugin",
    "gan_adapt.cli.plugin",
    "gan_adapt.tracking.tensorboard_observer",
    "gan_adapt.tracking.wandb_observer",
)


@dataclass
class PluginInfo:
    """What the ``plugins`` command shows about one loaded plugin."""

    name: str
    version: str
    origin: str  # "builtin", "entry point <dist>", or a file path
    components: list[tuple[str, str]] = field(default_factory=list)  # (kind, name)


@dataclass
class PluginFailure:
    """A plugin that could not be loaded or registered, and why."""

    name: str
    error: str
    origin: str = ""  # as in PluginInfo.origin, when known

    @property
    def imported(self) -> bool:
        """True when the plugin's code imported but registering it failed."""
        return not self.error.startswith("could not import")


class PluginConflict(PluginError):
    """Two plugins claim one name and nothing says which one wins (exit code 2)."""

    exit_code = 2


@dataclass
class Conflict:
    """One name claimed by two plugins: ``what`` is ``"loss 'x'"`` or ``"plugin name 'x'"``."""

    what: str
    first: str  # "'name' (origin)"
    second: str

    def message(self) -> str:
        return (f"two plugins claim the {self.what}: {self.first} and {self.second}")


@dataclass
class PluginSet:
    """The loaded plugins, their registry and what failed.

    Plugin modules are imported at load time, but their registration hooks run only when the
    registry is first used: ``gan-adapt --help`` never pays for the components' imports.
    """

    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)
    #: Plugin names, distribution names or file paths that win a conflict.
    prefer: tuple[str, ...] = ()
    conflicts: list[Conflict] = field(default_factory=list)
    #: The --plugins-dir folders loaded (resolved), in order.
    folders: list[Path] = field(default_factory=list)
    _registry: Registry | None = None

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (``plugin_set.hook.on_step_end(...)``)."""
        return self.manager.hook

    @property
    def registry(self) -> Registry:
        """Every registered component (runs the plugins' registration hooks on first use).

        Raises :class:`PluginConflict` when two plugins claim one name and no preference
        settles it (:meth:`collect` gathers everything without raising).
        """
        registry = self.collect()
        self.raise_conflicts()
        return registry

    def collect(self) -> Registry:
        """Run the registration hooks (once) and return the registry, conflicts or not."""
        if self._registry is None:
            self._registry = Registry()
            for name in list(self.plugins):
                self._collect(name)
        return self._registry

    def raise_conflicts(self) -> None:
        """Raise :class:`PluginConflict` listing every unsettled conflict."""
        if not self.conflicts:
            return
        lines = [c.message() for c in self.conflicts]
        names = sorted({c.first.split("'")[1] for c in self.conflicts}
                       | {c.second.split("'")[1] for c in self.conflicts})
        raise PluginConflict(
            "; ".join(lines) + ". Uninstall or move one of them, or say which one wins with "
            f"--prefer-plugin NAME (or {PREFER_ENV}=NAME); candidates: {', '.join(names)}")

    def _preferred(self, name: str) -> bool:
        info = self.plugins.get(name)
        keys = {_normalise(name)}
        if info is not None:
            keys |= {_normalise(info.origin), _normalise(info.origin.split()[-1])}
        return any(_normalise(p) in keys for p in self.prefer)

    def _label(self, name: str, origin: str | None = None) -> str:
        origin = origin if origin is not None else self.plugins[name].origin
        return f"{name!r} ({origin})"

    def has_plugin(self, name: str) -> bool:
        """True when a plugin of this name (or distribution name) is loaded."""
        _ = self.registry  # a plugin that fails to register does not count as loaded
        wanted = _normalise(name)
        return any(_normalise(p.name) == wanted or _normalise(p.origin.split()[-1]) == wanted
                   for p in self.plugins.values())

    def add_module(self, module: Any, name: str, version: str, origin: str) -> None:
        """Register one plugin object with pluggy (its components are collected lazily)."""
        if self.manager.is_registered(module):
            return
        if self.manager.has_plugin(name):
            if not self._replace_same_name(name, origin):
                return
        problem = hook_problems(module)
        if problem:
            self.failures.append(PluginFailure(name, problem, origin))
            return
        try:
            self.manager.register(module, name=name)
        except Exception as exc:  # a hookimpl with a wrong signature, for example
            self.failures.append(PluginFailure(name, f"{type(exc).__name__}: {exc}", origin))
            return
        self.plugins[name] = PluginInfo(name, version, origin)
        if tracing.enabled():
            tracing.trace_plugin(self.manager, name)
        if self._registry is not None:
            self._collect(name)

    def _replace_same_name(self, name: str, origin: str) -> bool:
        """A second plugin named ``name`` (an installed copy of a --plugins-dir file, say):
        True when it replaces the first (it is preferred); otherwise it is not loaded, and
        that is a conflict unless the first is preferred."""
        first = self.plugins.get(name)
        first_origin = first.origin if first is not None else "?"
        if any(_normalise(p) in {_normalise(origin), _normalise(origin.split()[-1])}
               for p in self.prefer):
            self.manager.unregister(name=name)
            self.plugins.pop(name, None)
            return True
        if not self._preferred(name):
            self.conflicts.append(Conflict(f"plugin name {name!r}", self._label(name, first_origin),
                                           self._label(name, origin)))
        return False

    def _collect(self, name: str) -> None:
        """Run one plugin's registration hooks; on any error drop the plugin whole.

        A name another plugin registered already is a conflict (see :meth:`_settle`), not an
        error of this plugin: its other components still register.
        """
        info = self.plugins[name]
        added: list[tuple[str, str]] = []
        replaced: list[Any] = []
        try:
            for kind, hook_name in KINDS.items():
                for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                    if impl.plugin_name != name:
                        continue
                    pending: list = []
                    impl.function(register=make_register(pending, kind))
                    for kind_, comp_name, factory, params in pending:
                        taken = self._registry.get(kind_, comp_name)
                        if taken is not None and taken.source != name:
                            if not self._settle(kind_, comp_name, taken, name):
                                continue
                            replaced.append(taken)
                            self._registry._by_kind[kind_].pop(comp_name)
                        self._registry.add(kind_, comp_name, factory, params, source=name)
                        added.append((kind_, comp_name))
        except Exception as exc:
            for kind_, comp_name in added:  # the registry keeps no half of a plugin
                self._registry._by_kind[kind_].pop(comp_name, None)
            for component in replaced:
                self._registry._by_kind[component.kind][component.name] = component
            self.manager.unregister(name=name)
            del self.plugins[name]
            message = str(exc) if isinstance(exc, GanAdaptError) else f"{type(exc).__name__}: {exc}"
            self.failures.append(PluginFailure(name, f"failed while registering: {message}",
                                               info.origin))
            return
        for component in replaced:  # the loser no longer lists what it lost
            loser = self.plugins.get(component.source)
            if loser is not None:
                loser.components = [c for c in loser.components
                                    if c != (component.kind, component.name)]
        info.components = added

    def _settle(self, kind: str, comp_name: str, taken: Any, name: str) -> bool:
        """``name`` registers a ``kind`` that plugin ``taken.source`` registered already:
        True when ``name`` is preferred and replaces it; otherwise the first one stays and,
        unless it is preferred, the pair is recorded as a conflict."""
        if self._preferred(name) and not self._preferred(taken.source):
            return True
        if not self._preferred(taken.source):
            self.conflicts.append(Conflict(f"{kind} {comp_name!r}", self._label(taken.source),
                                           self._label(name)))
        return False

    def load_plugins_dir(self, folder: str | Path, pinned: Mapping[str, str] | None = None,
                         given_by: str = "--plugins-dir") -> None:
        """Load every ``*.py`` file of ``folder`` as a plugin named after the file; a folder
        with a ``pyproject.toml`` is a plugin package instead (:meth:`load_package`).

        Each file is read once and its module is compiled from exactly those bytes: never from
        a ``__pycache__`` file, which nothing checks. With ``pinned`` (file name -> SHA-256, what
        a trusted run recorded) every file is checked first, and a folder with an added, changed
        or removed file is refused with their names before any of its code is imported.
        ``given_by`` names where the folder came from in messages (the option, or the
        environment variable ``GAN_ADAPT_PLUGINS_DIR``).
        """
        folder = Path(folder)
        try:
            if not folder.is_dir():
                raise PluginError(f"{given_by} {str(folder)[:200]!r}: not a folder")
            resolved = folder.resolve()
            sources = sorted(folder.glob("*.py"))
        except (OSError, ValueError, RuntimeError) as exc:  # too long, a loop, no permission
            reason = getattr(exc, "strerror", None) or str(exc)
            raise PluginError(f"{given_by} {str(folder)[:200]!r}: cannot be used as a folder "
                              f"({reason})") from None
        if resolved in self.folders:
            return  # named twice (given and remembered by a run): loaded once
        if (folder / "pyproject.toml").is_file() and pinned is None:
            self.folders.append(resolved)
            self.load_package(folder)
            return
        sources = read_sources(folder)
        if pinned is not None:
            check_pinned(folder, sources, pinned)
        self.folders.append(resolved)
        for path, source in sources.items():
            name = path.stem
            if isinstance(source, Exception):
                self.failures.append(PluginFailure(name, f"could not read {path}: {source}",
                                                   str(path)))
                continue
            try:
                module = _import_file(path, source)
            except Exception as exc:
                self.failures.append(PluginFailure(name, f"could not import {path}: "
                                                         f"{type(exc).__name__}: {exc}",
                                                   str(path)))
                continue
            self.add_module(module, name, getattr(module, "__version__", "-"), str(path))

    def load_package(self, folder: Path) -> None:
        """Load the plugins of the package in ``folder`` as if it were installed: each entry
        point of its ``pyproject.toml`` in the ``gan_adapt`` group, imported from the folder
        (or its ``src/``). The plugin's name is the entry point's, as when installed, so a
        recipe's ``requires = ["<entry-point name>"]`` holds either way."""
        entries = package_entry_points(folder)
        origin = f"package {folder.resolve()}"
        if not entries:
            self.failures.append(PluginFailure(
                folder.name, f"{folder / 'pyproject.toml'} declares no entry point in the "
                f"{ENTRY_POINT_GROUP!r} group ([project.entry-points.{ENTRY_POINT_GROUP}])",
                origin))
            return
        source = folder / "src" if (folder / "src").is_dir() else folder
        if str(source.resolve()) not in sys.path:
            sys.path.insert(0, str(source.resolve()))  # where `pip install -e` would point
        for name, value in entries.items():
            try:
                module = _load_entry_point(value)
            except Exception as exc:
                self.failures.append(PluginFailure(
                    name, f"could not import {value}: {type(exc).__name__}: {exc}", origin))
                continue
            elsewhere = _imported_elsewhere(module, source)
            if elsewhere:  # an installed copy, imported first, would hide the folder's code
                self.failures.append(PluginFailure(
                    name, f"{value} was already imported from {elsewhere}, not from "
                    f"{source.resolve()}; uninstall that copy (or leave it out with "
                    f"{LOAD_ENV}) to load the folder's code", origin))
                continue
            self.add_module(module, name, _package_version(folder, module), origin)

    def failure_of(self, name: str) -> PluginFailure | None:
        """The failure of the plugin called ``name`` (plugin or distribution name), if any."""
        wanted = _normalise(name)
        for failure in self.failures:
            if wanted in {_normalise(failure.name), _normalise(failure.origin.split()[-1])
                          if failure.origin else ""}:
                return failure
        return None


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def hook_problems(plugin: Any) -> str:
    """Why a plugin object's hooks cannot be what its author meant ('' when they can).

    A function marked ``@hookimpl`` whose name is no hook spec (pluggy would only notice it in
    ``check_pending``), and a function named exactly like a hook but left unmarked (pluggy
    ignores it), both leave a plugin that loads and silently registers nothing.
    """
    import difflib

    specs = _hook_names()
    problems = []
    for attr in sorted(dir(plugin)):
        if attr.startswith("__"):
            continue
        try:
            value = getattr(plugin, attr)
        except Exception:
            continue
        if not callable(value):
            continue
        marked = getattr(value, "gan_adapt_impl", None) is not None
        if marked and attr not in specs:
            close = difflib.get_close_matches(attr, specs, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"its @hookimpl {attr!r} is not a gan-adapt hook{hint} (hooks: "
                            f"{', '.join(sorted(specs))})")
        elif not marked and attr in specs and not isinstance(value, type):
            problems.append(f"{attr!r} is named like a hook but not marked @hookimpl "
                            "(add `from gan_adapt.plugin import hookimpl` and `@hookimpl` above "
                            "it)")
    return "; ".join(problems)


def _hook_names() -> set[str]:
    return {name for name in dir(hookspecs)
            if getattr(getattr(hookspecs, name), "gan_adapt_spec", None) is not None}


def _preferences(prefer: Iterable[str] | None) -> tuple[str, ...]:
    env = [p for p in os.environ.get(PREFER_ENV, "").split(",") if p.strip()]
    return tuple(dict.fromkeys([*(prefer or ()), *env]))


def _allowed_names() -> set[str] | None:
    value = os.environ.get(LOAD_ENV)
    if value is None:
        return None
    return {_normalise(n) for n in value.split(",") if n.strip()}


def read_sources(folder: Path) -> dict[Path, bytes | OSError]:
    """The bytes of every ``*.py`` file of ``folder`` (by name), each read once; an OSError in
    place of a file that cannot be read (a FIFO never blocks: see
    :mod:`gan_adapt.io.safe_paths`)."""
    from gan_adapt.io.safe_paths import open_regular

    sources: dict[Path, bytes | OSError] = {}
    for path in sorted(folder.glob("*.py")):
        try:
            with open_regular(path) as handle:
                sources[path] = handle.read()
        except OSError as exc:
            sources[path] = exc
    return sources


class PluginChanged(PluginError):
    """A trusted run's plugin folder differs from its record; ``changes`` lists each file."""

    def __init__(self, message: str, changes: list[str]) -> None:
        super().__init__(message)
        self.changes = changes


def check_pinned(folder: Path, sources: Mapping[Path, bytes | OSError],
                 pinned: Mapping[str, str]) -> None:
    """Refuse ``folder`` unless its files are exactly ``pinned`` (name -> SHA-256)."""
    import hashlib

    now = {path.name: hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else None
           for path, data in sources.items()}
    added = sorted(set(now) - set(pinned))
    removed = sorted(set(pinned) - set(now))
    changed = sorted(name for name in set(now) & set(pinned) if now[name] != pinned[name])
    if not (added or removed or changed):
        return
    parts = ([f"plugin {Path(n).stem!r}: the code in {folder / n} changed" for n in changed]
             + [f"{folder / n} was added" for n in added]
             + [f"{folder / n} was removed" for n in removed])
    raise PluginChanged(
        f"the plugin folder {folder} is not as the run recorded it: " + "; ".join(parts)
        + ". None of its code was imported. Restore the folder, or, if you trust its code as "
        "it is now, continue anyway with --allow-changed-plugins (or name the folder yourself "
        f"with --plugins-dir {folder}).", changes=parts)


def _import_file(path: Path, source: bytes) -> Any:
    """Import ``source`` (the bytes read from ``path``) as a module.

    The code is compiled from those bytes, so what runs is what was read (and, for a trusted
    run, checked); no bytecode cache is read or written."""
    module_name = f"gan_adapt_local_plugins.{path.stem}"
    spec = importlib.util.spec_from_loader(module_name, loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    module.__file__ = str(path)
    code = compile(source, str(path), "exec", dont_inherit=True)
    sys.modules[module_name] = module
    try:
        exec(code, module.__dict__)  # noqa: S102 - a plugin the user named, checked if pinned
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def package_entry_points(folder: str | Path) -> dict[str, str]:
    """The ``gan_adapt`` entry points a package folder's ``pyproject.toml`` declares
    (name -> ``"module"`` or ``"module:attribute"``); a file that cannot be read is a
    :class:`PluginError` naming it."""
    import tomllib

    path = Path(folder) / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PluginError(f"--plugins-dir {folder}: cannot read {path}: {exc}") from None
    entries = data.get("project", {}).get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
    if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
        raise PluginError(f"--plugins-dir {folder}: [project.entry-points.{ENTRY_POINT_GROUP}] "
                          f"in {path} must map names to 'module' or 'module:attribute' strings")
    return dict(entries)


def _load_entry_point(value: str) -> Any:
    """What an entry point's value names, as ``EntryPoint.load`` would import it."""
    module_name, _, attribute = value.partition(":")
    target: Any = importlib.import_module(module_name.strip())
    for part in attribute.strip().split(".") if attribute.strip() else ():
        target = getattr(target, part)
    return target


def _imported_elsewhere(plugin: Any, source: Path) -> str:
    """The file ``plugin``'s module came from when that is outside ``source`` ('' if inside)."""
    import inspect

    module = plugin if inspect.ismodule(plugin) else inspect.getmodule(type(plugin))
    path = getattr(module, "__file__", None)
    if not path or Path(path).resolve().is_relative_to(source.resolve()):
        return ""
    return str(Path(path).resolve())


def _package_version(folder: Path, module: Any) -> str:
    top = sys.modules.get(getattr(module, "__name__", "").split(".")[0])
    version = getattr(top, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        import tomllib

        data = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
        return str(data.get("project", {}).get("version", "-"))
    except (OSError, ValueError):
        return "-"


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_plugins(plugins_dir: str | Path | Iterable[str | Path] | None = None, *,
                 entry_points: bool = True, extra: Iterable[Any] = (),
                 prefer: Iterable[str] | None = None,
                 pinned: Mapping[str, Mapping[str, str]] | None = None) -> PluginSet:
    """Build a :class:`PluginSet` from the default plugins, entry points and a plugins folder.

    ``extra`` are plugin objects (modules or instances) registered as well; tests use it to add
    fixture plugins with entry points turned off. ``entry_points=False`` also ignores
    ``$GAN_ADAPT_PLUGINS_DIR`` (only what the caller names loads). ``prefer`` (plus
    ``$GAN_ADAPT_PREFER_PLUGINS``) names the plugins that win a conflict. ``pinned`` maps a
    folder's resolved path to the files it must hold (see :meth:`PluginSet.load_plugins_dir`).
    """
    pinned = pinned or {}
    manager = pluggy.PluginManager("gan_adapt")
    manager.add_hookspecs(hookspecs)
    plugin_set = PluginSet(manager, prefer=_preferences(prefer))
    for module_name in DEFAULT_PLUGINS:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            plugin_set.failures.append(PluginFailure(module_name, f"{type(exc).__name__}: {exc}"))
            continue
        plugin_set.add_module(module, module_name, __version__, "builtin")
    if entry_points:
        allowed = _allowed_names()
        for ep in _entry_points():
            dist = ep.dist.name if ep.dist is not None else "?"
            if allowed is not None and not ({_normalise(ep.name), _normalise(dist)} & allowed):
                continue
            try:
                module = ep.load()
            except Exception as exc:
                plugin_set.failures.append(PluginFailure(
                    ep.name, f"could not import {ep.value}: {type(exc).__name__}: {exc}",
                    f"entry point {dist}"))
                continue
            version = ep.dist.version if ep.dist is not None else "-"
            plugin_set.add_module(module, ep.name, version, f"entry point {dist}")
    for obj in extra:
        name = getattr(obj, "__name__", None) or type(obj).__name__
        plugin_set.add_module(obj, name, getattr(obj, "__version__", "-"), "explicit")
    if plugins_dir is None or isinstance(plugins_dir, (str, Path)):
        plugins_dir = [plugins_dir] if plugins_dir else []
    def pins(folder: str) -> Mapping[str, str] | None:
        try:
            return pinned.get(str(Path(folder).resolve()))
        except (OSError, RuntimeError, ValueError):  # load_plugins_dir says what is wrong
            return None

    for folder in plugins_dir:
        plugin_set.load_plugins_dir(folder, pins(folder))
    env_dirs = ([d for d in os.environ.get(PLUGINS_DIR_ENV, "").split(os.pathsep) if d.strip()]
                if entry_points else [])
    for folder in env_dirs:
        plugin_set.load_plugins_dir(folder, pins(folder),
                                    f"the environment variable {PLUGINS_DIR_ENV} "
                                    f"(folders separated by {os.pathsep!r}) names")
    return plugin_set
