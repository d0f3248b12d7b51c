"""``GAN_ADAPT_TRACE_PLUGINS=1``: log every hook call with its plugin and how long it took.

For plugin authors: which of my hooks ran, when, and how slow were they? Each call of a
plugin's hook implementation prints one line to stderr::

    [gan-adapt trace] register_losses  plugin 'nada'  0.4 ms
    [gan-adapt trace] on_step_end      plugin 'example'  2.1 ms  (raised KeyError)

Tracing wraps each implementation's function when its plugin is registered (nothing is wrapped
when tracing is off, so it costs nothing then). The wrapper keeps ``__wrapped__``, so error
attribution still finds the plugin's own frame.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from typing import Any

TRACE_ENV = "GAN_ADAPT_TRACE_PLUGINS"


def enabled() -> bool:
    """True when ``$GAN_ADAPT_TRACE_PLUGINS`` is set to something other than ``0``."""
    return os.environ.get(TRACE_ENV, "") not in ("", "0")


def trace_plugin(manager: Any, plugin_name: str) -> None:
    """Wrap every hook implementation of ``plugin_name`` with a timing log line."""
    plugin = manager.get_plugin(plugin_name)
    for caller in manager.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin_name == plugin_name and not hasattr(impl.function, "_gan_adapt_trace"):
                impl.function = _timed(impl.function, caller.name, plugin_name)


def _timed(function: Any, hook_name: str, plugin_name: str) -> Any:
    @functools.wraps(function)
    def traced(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        outcome = ""
        try:
            return function(*args, **kwargs)
        except BaseException as exc:
            outcome = f"  (raised {type(exc).__name__})"
            raise
        finally:
            ms = (time.perf_counter() - start) * 1000
            print(f"[gan-adapt trace] {hook_name:<28s} plugin {plugin_name!r}  {ms:.1f} ms"
                  f"{outcome}", file=sys.stderr, flush=True)

    traced._gan_adapt_trace = True  # type: ignore[attr-defined]
    return traced
