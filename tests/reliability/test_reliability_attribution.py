"""Failures outside a term's value are blamed too: an observer hook that raises names its plugin
and hook, a term's ``select_parameters`` names the term, and a backward pass that raises names
the update and lists its terms. Each is a clean error (no traceback unless GAN_ADAPT_DEBUG=1)
and leaves the run folder marked failed."""

from __future__ import annotations

from pathlib import Path

import pluggy
import pytest

from gan_adapt import hookimpl
from gan_adapt.engine.observers import notify
from gan_adapt.errors import InputError, PluginError
from gan_adapt.plugin_host import hookspecs

from .conftest import assert_refused, derived_recipe, run_meta, toy_run_args

BLAME_PLUGINS = Path(__file__).resolve().parent / "blame_plugins"
FROM = "from plugin 'blame_plugin'"


def _run(cli, tmp_path: Path, **recipe: object):
    out = tmp_path / "run"
    result = cli(*toy_run_args(out, derived_recipe(tmp_path, **recipe)),
                 "--plugins-dir", BLAME_PLUGINS)
    return result, out


def _assert_failed(out: Path, phase: str, step: int, needle: str) -> None:
    meta = run_meta(out)
    assert meta["status"] == "failed" and needle in meta["error"], meta
    assert meta["failed_at"] == {"phase": phase, "step": step}


@pytest.mark.parametrize("hook, message, phase, step", [
    ("on_run_start", "in on_run_start before the first step", "build", 0),
    ("on_step_end:search:1", "in on_step_end at search step 1", "search", 1),
    ("on_step_end:adapt:2", "in on_step_end at adapt step 2", "adapt", 2),
    ("on_run_end", "in on_run_end after the run's outputs were written", "adapt", 3),
])
def test_observer_hook_failure_names_the_plugin_and_the_hook(cli, tmp_path, monkeypatch, hook,
                                                             message, phase, step):
    # fault_plugin implements on_step_end as well: only the raising plugin is blamed.
    monkeypatch.setenv("BLAME_OBSERVER", hook)
    result, out = _run(cli, tmp_path, search={"steps": 2}, adapt={"steps": 3})
    assert_refused(result, f"plugin 'blame_plugin' {message} failed: ValueError: injected "
                   f"observer failure ({hook})", "GAN_ADAPT_DEBUG=1", "is marked failed",
                   code=1)
    assert "fault_plugin" not in result.err
    _assert_failed(out, phase, step, "plugin 'blame_plugin'")


def test_observer_traceback_with_debug_env_reaches_the_plugin(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("BLAME_OBSERVER", "on_run_start")
    monkeypatch.setenv("GAN_ADAPT_DEBUG", "1")
    result, _ = _run(cli, tmp_path)
    assert result.code == 1
    assert "Traceback" in result.err and "blame_plugin.py" in result.err


class _Observer:
    """Two instances of one class are two plugins sharing one hook function."""

    def __init__(self, fails: bool) -> None:
        self.fails = fails
        self.calls = 0

    @hookimpl
    def on_step_end(self, run, phase, step, values):
        self.calls += 1
        if self.fails:
            raise InputError("the observer's own clear message")


def test_notify_keeps_a_plugin_error_type_and_blames_the_instance_that_raised():
    manager = pluggy.PluginManager("gan_adapt")
    manager.add_hookspecs(hookspecs)
    quiet, loud = _Observer(False), _Observer(True)
    manager.register(loud, name="loud")
    manager.register(quiet, name="quiet")  # registered last: pluggy calls it first

    class PluginSet:
        hook = manager.hook

    with pytest.raises(InputError) as caught:
        notify(PluginSet, "on_step_end", run=None, phase="adapt", step=5, values={})
    assert str(caught.value) == "the observer's own clear message"
    assert caught.value.__notes__ == ["(raised by plugin 'loud' in on_step_end at adapt step 5)"]
    assert (quiet.calls, loud.calls) == (1, 1)
    loud.fails = False
    notify(PluginSet, "on_step_end", run=None, phase="adapt", step=6, values={})
    assert (quiet.calls, loud.calls) == (2, 2)


def test_notify_turns_other_errors_into_a_plugin_error():
    manager = pluggy.PluginManager("gan_adapt")
    manager.add_hookspecs(hookspecs)

    class Broken:
        @hookimpl
        def on_run_start(self, run):
            return {}["missing"]

    manager.register(Broken(), name="broken")

    class PluginSet:
        hook = manager.hook

    with pytest.raises(PluginError, match=r"^plugin 'broken' in on_run_start before the first "
                       r"step failed: KeyError: 'missing'\. The run stopped") as caught:
        notify(PluginSet, "on_run_start", run=None)
    assert isinstance(caught.value.__cause__, KeyError)


def test_select_parameters_failure_names_the_term(cli, tmp_path):
    result, out = _run(cli, tmp_path, extra_losses=[{"name": "select_fails",
                                                     "params": {"at": 1}}])
    assert_refused(result, "adapt.losses[4] (its select_parameters), loss 'select_fails' "
                   f"{FROM}, at adapt step 1 failed: KeyError: \"no layer named 'b64'\"",
                   "GAN_ADAPT_DEBUG=1", "is marked failed", code=1)
    _assert_failed(out, "adapt", 1, "select_parameters")


def test_custom_autograd_backward_failure_lists_the_terms_of_the_update(cli, tmp_path):
    result, out = _run(cli, tmp_path, extra_losses=[{"name": "backward_fails",
                                                     "params": {"at": 3}}])
    # Step 3 is a "random" step: mse (adapt.losses[0]) only applies to "reference" steps.
    assert_refused(result, "The backward pass of the generator update of adapt step 3 failed: "
                   "ArithmeticError: injected backward failure",
                   f"backward_fails (adapt.losses[4], loss 'backward_fails' {FROM})",
                   "mean_colour (adapt.losses[2], loss 'mean_colour'", "adversarial (",
                   "keep_content (", "GAN_ADAPT_DEBUG=1", "is marked failed", code=1)
    assert "adapt.losses[0]" not in result.err
    _assert_failed(out, "adapt", 3, "The backward pass of the generator update")


def test_backward_failure_in_the_latent_search_names_the_search_terms(cli, tmp_path):
    result, out = _run(cli, tmp_path, extra_search=[{"name": "backward_fails",
                                                     "params": {"at": 2}}])
    assert_refused(result, "The backward pass of search step 2 failed: ArithmeticError",
                   "backward_fails (search.objective[2], search_objective 'backward_fails' "
                   f"{FROM})", "mean_colour (search.objective[0]", "has no checkpoint yet",
                   code=1)
    _assert_failed(out, "search", 2, "search step 2")


@pytest.mark.parametrize("at, where", [
    (2, "adapt.losses[4], loss 'out_of_memory' " + FROM + ", at adapt step 2"),
    (3, "the backward pass of the generator update of adapt step 3"),
])
def test_out_of_memory_is_not_blamed_on_a_plugin_and_lists_the_memory_modes(cli, tmp_path, at,
                                                                             where):
    result, out = _run(cli, tmp_path, extra_losses=[{"name": "out_of_memory",
                                                     "params": {"at": at}}])
    assert_refused(result, f"Out of memory in {where} (CUDA out of memory. Tried to allocate "
                   "2.00 GiB)", 'adapt.precision = "bf16"', "micro_batch = 4",
                   "image_size = 160", "is marked failed", "A resume keeps the recipe",
                   code=1)
    assert "PluginError" not in result.err and "failed: " not in result.err
    _assert_failed(out, "adapt", at, "Out of memory")
