"""Every hook spec is documented in docs/plugins.md and exercised by at least one test."""

from __future__ import annotations

import inspect
from pathlib import Path

from gan_adapt.plugin_host import hookspecs

ROOT = Path(__file__).resolve().parents[2]


def hook_names() -> list[str]:
    """The hook specs of gan_adapt.plugin_host.hookspecs (functions with pluggy's spec marker)."""
    return [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, "gan_adapt_spec")]


def test_the_hook_list_is_read_from_the_specs():
    names = hook_names()
    assert {"register_losses", "on_step_end", "register_commands"} <= set(names)
    assert len(names) == len(set(names)) >= 9


def test_every_hook_is_documented_in_the_plugin_guide():
    guide = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    missing = [name for name in hook_names() if f"`{name}`" not in guide]
    assert not missing, f"docs/plugins.md does not document the hook(s) {missing}"


def test_every_hook_is_exercised_by_a_test():
    me = Path(__file__).resolve()
    sources = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests").rglob("*.py"))
               if p.resolve() != me]
    untested = [name for name in hook_names() if not any(name in text for text in sources)]
    assert not untested, f"no test exercises the hook(s) {untested}"
