"""gan-adapt: one-shot, few-shot and text-guided domain adaptation of pretrained GANs.

Importing this package is cheap: it imports neither torch nor any plugin. The Python API
(:func:`load_recipe`, :func:`run`, :func:`resume`, :func:`load_run`, :func:`evaluate`; see
:mod:`gan_adapt.api`) is imported on first use, and plugins are loaded by the first call that
needs them (:func:`gan_adapt.plugin_host.loading.load_plugins`).
"""

from __future__ import annotations

from typing import Any

from gan_adapt import _compat
from gan_adapt._version import __version__
from gan_adapt.plugin_host.markers import hookimpl

_compat.install()  # old module paths still import, with a deprecation warning

#: Names of :mod:`gan_adapt.api` available as ``gan_adapt.<name>``.
_API = ("load_recipe", "run", "resume", "load_run", "evaluate", "LoadedRecipe", "Run",
        "RunResult", "Translation")

__all__ = ["__version__", "hookimpl", *_API]


def __getattr__(name: str) -> Any:
    """The API's names, imported when first used (keeps ``import gan_adapt`` fast)."""
    if name in _API:
        from gan_adapt.api import public as api

        return getattr(api, name)
    raise AttributeError(f"module 'gan_adapt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
