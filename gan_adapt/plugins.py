"""Plugin discovery and loading.

Three sources, loaded in this order, all through one pluggy ``PluginManager``:

1. the built-in default plugins (:data:`DEFAULT_PLUGINS`): gan-adapt's own networks, encoders
   and generic losses are plugins like any other;
2. installed packages that declare an entry point in the ``gan_adapt`` group;
3. loose ``*.py`` files in ``--plugins-dir`` folders (and ``$GAN_ADAPT_PLUGINS_DIR``).

``GAN_ADAPT_LOAD_PLUGINS`` (comma-separated names) restricts which entry-point plugins load; set
to an empty string it loads none. Files of an explicit ``--plugins-dir`` always load. Nothing
here runs at ``import gan_adapt``: the CLI calls :func:`load_plugins` when a command needs it.

A plugin that fails to import or to register is recorded in :attr:`PluginSet.failures` with its
name and the error, and the others still load.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pluggy

from gan_adapt import __version__, hookspecs
from gan_adapt.errors import GanAdaptError, PluginError
from gan_adapt.registry import KINDS, Registry, make_register

ENTRY_POINT_GROUP = "gan_adapt"
LOAD_ENV = "GAN_ADAPT_LOAD_PLUGINS"
PLUGINS_DIR_ENV = "GAN_ADAPT_PLUGINS_DIR"

#: Modules of the components that ship with gan-adapt.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "gan_adapt.generators.plugin",
    "gan_adapt.encoders.plugin",
    "gan_adapt.losses.plugin",
    "gan_adapt.sweep.plugin",
    "gan_adapt.evaluation.plugin",
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


@dataclass
class PluginSet:
    """The loaded plugins, their registry and what failed.

    Plugin modules are imported at load time, but their registration hooks run only when the
    registry is first used: ``gan-adapt --help`` never pays for the components' imports.
    """

    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)
    _registry: Registry | None = None

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (``plugin_set.hook.on_step_end(...)``)."""
        return self.manager.hook

    @property
    def registry(self) -> Registry:
        """Every registered component (runs the plugins' registration hooks on first use)."""
        if self._registry is None:
            self._registry = Registry()
            for name in list(self.plugins):
                self._collect(name)
        return self._registry

    def has_plugin(self, name: str) -> bool:
        """True when a plugin of this name (or distribution name) is loaded."""
        self.registry  # a plugin that fails to register does not count as loaded
        wanted = _normalise(name)
        return any(_normalise(p.name) == wanted or _normalise(p.origin.split()[-1]) == wanted
                   for p in self.plugins.values())

    def add_module(self, module: Any, name: str, version: str, origin: str) -> None:
        """Register one plugin object with pluggy (its components are collected lazily)."""
        if self.manager.has_plugin(name):
            return
        try:
            self.manager.register(module, name=name)
        except Exception as exc:  # a hookimpl with a wrong signature, for example
            self.failures.append(PluginFailure(name, f"{type(exc).__name__}: {exc}"))
            return
        self.plugins[name] = PluginInfo(name, version, origin)
        if self._registry is not None:
            self._collect(name)

    def _collect(self, name: str) -> None:
        """Run one plugin's registration hooks; on any error drop the plugin whole."""
        info = self.plugins[name]
        added: list[tuple[str, str]] = []
        try:
            for kind, hook_name in KINDS.items():
                for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                    if impl.plugin_name != name:
                        continue
                    pending: list = []
                    impl.function(register=make_register(pending, kind))
                    for kind_, comp_name, factory, params in pending:
                        self._registry.add(kind_, comp_name, factory, params, source=name)
                        added.append((kind_, comp_name))
        except Exception as exc:
            for kind_, comp_name in added:  # the registry keeps no half of a plugin
                self._registry._by_kind[kind_].pop(comp_name, None)
            self.manager.unregister(name=name)
            del self.plugins[name]
            message = str(exc) if isinstance(exc, GanAdaptError) else f"{type(exc).__name__}: {exc}"
            self.failures.append(PluginFailure(name, f"failed while registering: {message}"))
            return
        info.components = added

    def load_plugins_dir(self, folder: str | Path) -> None:
        """Load every ``*.py`` file of ``folder`` as a plugin named after the file."""
        folder = Path(folder)
        if not folder.is_dir():
            raise PluginError(f"--plugins-dir {folder} is not a folder")
        for path in sorted(folder.glob("*.py")):
            name = path.stem
            try:
                module = _import_file(path)
            except Exception as exc:
                self.failures.append(PluginFailure(name, f"could not import {path}: "
                                                         f"{type(exc).__name__}: {exc}"))
                continue
            self.add_module(module, name, getattr(module, "__version__", "-"), str(path))


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _allowed_names() -> set[str] | None:
    value = os.environ.get(LOAD_ENV)
    if value is None:
        return None
    return {_normalise(n) for n in value.split(",") if n.strip()}


def _import_file(path: Path) -> Any:
    module_name = f"gan_adapt_local_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_plugins(plugins_dir: str | Path | Iterable[str | Path] | None = None, *,
                 entry_points: bool = True, extra: Iterable[Any] = ()) -> PluginSet:
    """Build a :class:`PluginSet` from the default plugins, entry points and a plugins folder.

    ``extra`` are plugin objects (modules or instances) registered as well; tests use it to add
    fixture plugins with entry points turned off.
    """
    manager = pluggy.PluginManager("gan_adapt")
    manager.add_hookspecs(hookspecs)
    plugin_set = PluginSet(manager)
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
                plugin_set.failures.append(PluginFailure(ep.name, f"could not import "
                                                         f"{ep.value}: {type(exc).__name__}: {exc}"))
                continue
            version = ep.dist.version if ep.dist is not None else "-"
            plugin_set.add_module(module, ep.name, version, f"entry point {dist}")
    for obj in extra:
        name = getattr(obj, "__name__", None) or type(obj).__name__
        plugin_set.add_module(obj, name, getattr(obj, "__version__", "-"), "explicit")
    if plugins_dir is None or isinstance(plugins_dir, (str, Path)):
        plugins_dir = [plugins_dir] if plugins_dir else []
    env_dirs = [d for d in os.environ.get(PLUGINS_DIR_ENV, "").split(os.pathsep) if d]
    for folder in [*plugins_dir, *env_dirs]:
        plugin_set.load_plugins_dir(folder)
    return plugin_set
