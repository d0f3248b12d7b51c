"""The component registry: every generator, discriminator, encoder, search term and loss by name.

Plugins add components through the ``register`` callback their hooks receive; recipes then name
them. A component is a *factory* (usually a class) called as ``factory(params, ctx)``, where
``params`` is an instance of its pydantic ``Params`` model and ``ctx`` is a
:class:`~gan_adapt.components.BuildContext`.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from gan_adapt.errors import PluginError

#: Component kinds, each with the hook through which plugins register it.
KINDS: dict[str, str] = {
    "generator": "register_generators",
    "discriminator": "register_discriminators",
    "encoder": "register_encoders",
    "search_objective": "register_search_objectives",
    "loss": "register_losses",
    "transform": "register_transforms",
}

_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


class NoParams(BaseModel):
    """Params model of a component that takes no parameters."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Component:
    """One registered component."""

    kind: str
    name: str
    factory: Callable[..., Any]
    params_model: type[BaseModel]
    source: str  # the plugin that registered it

    @property
    def doc(self) -> str:
        """The first line of the factory's docstring."""
        factory = self.factory.load() if isinstance(self.factory, LazyFactory) else self.factory
        factory = factory.fn if isinstance(factory, TransformInfo) else factory
        text = inspect.getdoc(factory) or ""
        return text.strip().splitlines()[0] if text.strip() else ""

    def import_problem(self) -> str:
        """Why the factory cannot be imported ('' when it can): a lazy target whose module or
        attribute is misspelt, or whose module fails on import. Imports the target."""
        if not isinstance(self.factory, LazyFactory):
            return ""
        try:
            self.factory.load()
        except Exception as exc:  # any import-time failure of the plugin's module
            return f"{type(exc).__name__}: {exc}"
        return ""

    def describe_broken(self, problem: str) -> str:
        """One line naming a component whose factory cannot be imported, and why."""
        return (f"plugin {self.source!r}: {self.kind} {self.name!r} is "
                f"{self.factory!r}, which cannot be imported: {problem}")

    def build(self, params: BaseModel | dict[str, Any], ctx: Any) -> Any:
        """Construct the component from (validated) params."""
        return self.factory(validate_params(self.params_model, params), ctx)


def validate_params(model: type[BaseModel], data: BaseModel | dict[str, Any]) -> BaseModel:
    """A component's params from a recipe's ``params = {...}``, validated strictly: an ``int``
    field refuses ``"8"`` and ``8.0``, a ``bool`` refuses ``1``, a ``str`` refuses ``8``, where
    pydantic's default would coerce them silently. A ``float`` field still takes an integer (TOML
    writes ``1`` for one), and arrays still fill tuples: the values are checked as the JSON
    they are (TOML dates become strings, as JSON has none)."""
    import json

    if isinstance(data, model):
        return data
    try:
        text = json.dumps(data, default=str)
    except (TypeError, ValueError):  # not data a recipe can hold: validate it as it is
        return model.model_validate(data, strict=True)
    return model.model_validate_json(text, strict=True)


@dataclass
class Registry:
    """Components by kind and name. Registering a taken name is an error naming both sources."""

    _by_kind: dict[str, dict[str, Component]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS})

    def add(self, kind: str, name: str, factory: Callable[..., Any],
            params: type[BaseModel] | None = None, *, source: str = "?") -> Component:
        """Register ``factory`` as component ``name`` of ``kind`` (see :func:`make_register`)."""
        if kind not in KINDS:
            raise PluginError(f"plugin {source!r} registered a component of unknown kind {kind!r}")
        if not isinstance(name, str) or not _NAME.match(name):
            raise PluginError(
                f"plugin {source!r} registered a {kind} with an invalid name {name!r}: names are "
                "lower-case letters, digits, '_' and '-', starting with a letter")
        if not callable(factory):
            raise PluginError(f"plugin {source!r} registered {kind} {name!r} with a factory "
                              f"that is not callable: {factory!r}")
        params = params if params is not None else getattr(factory, "Params", NoParams)
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise PluginError(f"plugin {source!r} registered {kind} {name!r} whose Params is not "
                              "a pydantic model")
        taken = self._by_kind[kind].get(name)
        if taken is not None:
            raise PluginError(f"two plugins register a {kind} named {name!r}: {taken.source!r} "
                              f"and {source!r}; uninstall or restrict one of them "
                              "(GAN_ADAPT_LOAD_PLUGINS)")
        component = Component(kind, name, factory, params, source)
        self._by_kind[kind][name] = component
        return component

    def get(self, kind: str, name: str) -> Component | None:
        """The component, or None when no plugin registered it."""
        return self._by_kind[kind].get(name)

    def names(self, kind: str) -> list[str]:
        """Registered names of one kind, sorted."""
        return sorted(self._by_kind[kind])

    def components(self, kind: str | None = None) -> list[Component]:
        """All components (of one kind), sorted by kind then name."""
        kinds = [kind] if kind else list(KINDS)
        return [self._by_kind[k][n] for k in kinds for n in sorted(self._by_kind[k])]


class LazyFactory:
    """A factory named by ``"package.module:attribute"``, imported when first built.

    Registering ``lazy("my_plugin.loss:MyLoss", MyLossParams)`` instead of the class itself keeps
    the term's module (and torch, which it imports) out of ``gan-adapt validate`` and every other
    command that only checks recipes: validation needs nothing but the params model, which lives
    in a torch-free module. Attributes that validation reads (``needs_discriminator``) are given
    here; every other attribute (``required_weights``, the docstring) comes from the imported
    factory.
    """

    def __init__(self, target: str, params: type[BaseModel] | None = None, *,
                 needs_discriminator: bool = False) -> None:
        module, _, attribute = target.partition(":")
        if not module or not attribute:
            raise PluginError(f"lazy({target!r}): expected 'package.module:attribute'")
        self.target = target
        self.Params = params if params is not None else NoParams
        self.needs_discriminator = needs_discriminator
        self._factory: Callable[..., Any] | None = None

    def load(self) -> Callable[..., Any]:
        """The factory itself (imported on first use)."""
        if self._factory is None:
            module, _, attribute = self.target.partition(":")
            self._factory = getattr(importlib.import_module(module), attribute)
        return self._factory

    def __call__(self, params: BaseModel, ctx: Any) -> Any:
        return self.load()(params, ctx)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_factory":
            raise AttributeError(name)
        return getattr(self.load(), name)

    def __repr__(self) -> str:
        return f"lazy({self.target!r})"


def lazy(target: str, params: type[BaseModel] | None = None, *,
         needs_discriminator: bool = False) -> LazyFactory:
    """A factory imported from ``target`` (``"package.module:attribute"``) when first built;
    ``params`` is its params model (see :class:`LazyFactory`)."""
    return LazyFactory(target, params, needs_discriminator=needs_discriminator)


@dataclass(frozen=True)
class TransformInfo:
    """A registered image transform (kind ``transform``): the function, the caption text
    recipes are given, and the benchmark split it belongs to (None: registered by a plugin,
    held out of both splits). Calling it calls ``fn``."""

    fn: Callable[[Any], Any]
    caption: str | None = None
    split: str | None = None

    def __call__(self, images: Any) -> Any:
        return self.fn(images)


SPLITS = ("tune", "test")


def make_register(pending: list[tuple[str, str, Callable[..., Any], type[BaseModel] | None]],
                  kind: str) -> Callable[..., None]:
    """The ``register(name, factory, params=None)`` callback handed to a plugin's hook
    (for transforms ``register(name, fn, caption=None)``, see :class:`TransformInfo`).

    Registrations are collected in ``pending`` and added to the registry only after the hook
    returns, so a plugin that fails half-way leaves nothing behind.
    """
    if kind == "transform":
        def register_transform(name: str, fn: Callable[[Any], Any], caption: str | None = None,
                               *, split: str | None = None) -> None:
            if not callable(fn):
                raise PluginError(f"transform {name!r} is not callable: {fn!r}")
            if caption is not None and not isinstance(caption, str):
                raise PluginError(f"transform {name!r}: caption must be a string, got "
                                  f"{caption!r}")
            if split is not None and split not in SPLITS:
                raise PluginError(f"transform {name!r}: split must be one of {SPLITS}")
            pending.append((kind, name, TransformInfo(fn, caption, split), None))

        return register_transform

    def register(name: str, factory: Callable[..., Any],
                 params: type[BaseModel] | None = None) -> None:
        pending.append((kind, name, factory, params))

    return register
