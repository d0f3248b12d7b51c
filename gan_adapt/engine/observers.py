"""Calling the observer hooks (``on_run_start``, ``on_step_end``, ``on_run_end``) of a run.

Every plugin may implement them, so a failure inside one must say which plugin raised, in which
hook and at which step, like a failing loss term does (see ``ActiveTerm`` in build.py).

The hook is still called through pluggy, once, with all its implementations: their order,
hook wrappers and pluggy's tracing stay exactly as pluggy defines them, and the hot path pays
nothing. Only when the call raises is the culprit looked up: the first frame of the traceback
that runs one of the hook's implementations is the one pluggy called.
"""

from __future__ import annotations

import inspect
from types import TracebackType
from typing import Any

from gan_adapt.errors import GanAdaptError, PluginError


def notify(plugin_set: Any, hook_name: str, **kwargs: Any) -> None:
    """Call observer hook ``hook_name`` of every plugin with ``kwargs``.

    A plugin's :class:`GanAdaptError` keeps its type and message and gains a note naming the
    plugin, the hook and the step; any other exception becomes a :class:`PluginError` saying
    the same (its cause keeps the traceback, which the CLI prints with ``GAN_ADAPT_DEBUG=1``).
    ``KeyboardInterrupt`` and other ``BaseException``\\ s pass through unchanged.
    """
    hook = getattr(plugin_set.hook, hook_name)
    try:
        hook(**kwargs)
    except GanAdaptError as exc:
        exc.add_note(f"(raised by {_where(hook, hook_name, exc, kwargs)})")
        raise
    except Exception as exc:
        raise PluginError(
            f"{_where(hook, hook_name, exc, kwargs)} failed: {type(exc).__name__}: {exc}. "
            "The run stopped. Set GAN_ADAPT_DEBUG=1 to see the traceback.") from exc


def _where(hook: Any, hook_name: str, exc: BaseException, kwargs: dict[str, Any]) -> str:
    """``plugin 'foo' in on_step_end at adapt step 12`` (every implementing plugin when the
    traceback does not tell which one raised)."""
    if "step" in kwargs and "phase" in kwargs:
        when = f"at {kwargs['phase']} step {kwargs['step']}"
    elif hook_name == "on_run_start":
        when = "before the first step"
    elif hook_name == "on_run_end":
        when = "after the run's outputs were written"
    else:
        when = ""
    impls = hook.get_hookimpls()
    names = _culprits(exc.__traceback__, impls)
    if len(names) == 1:
        who = f"plugin {names[0]!r}"
    else:
        candidates = names or [impl.plugin_name for impl in impls]
        who = "one of the plugins " + ", ".join(repr(n) for n in candidates)
    return f"{who} in {hook_name} {when}".rstrip()


def _culprits(tb: TracebackType | None, impls: list[Any]) -> list[str]:
    """Names of the plugins whose implementation runs in the outermost matching frame of
    ``tb``. Several only when implementations share one function (instances of one class
    with the same method) and the frame's ``self`` does not settle it."""
    by_code: dict[Any, list[Any]] = {}
    for impl in impls:
        # bound methods forward __code__; a traced function (GAN_ADAPT_TRACE_PLUGINS) is unwrapped
        code = getattr(inspect.unwrap(impl.function), "__code__", None)
        if code is not None:
            by_code.setdefault(code, []).append(impl)
    while tb is not None:
        matches = by_code.get(tb.tb_frame.f_code)
        if matches:
            if len(matches) > 1:
                owner = tb.tb_frame.f_locals.get("self")
                matches = [m for m in matches if m.plugin is owner] or matches
            return [m.plugin_name for m in matches]
        tb = tb.tb_next
    return []
