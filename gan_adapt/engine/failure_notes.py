"""When a run stops on an error: run.json records why, and the error gets a note telling the
user what the folder keeps and how to go on."""

from __future__ import annotations

from gan_adapt.engine.run_state import RunState
from gan_adapt.errors import GanAdaptError, OutOfMemory, PluginError, TrainingDiverged
from gan_adapt.recipe.schedule import step_kind


def terms_between(state: RunState, first: int, last: int) -> list[str]:
    """Labels of the adapt terms applied at any step of ``first``..``last``."""
    labels: list[str] = []
    for index in range(first, last + 1):
        kind = step_kind(state.validated.recipe.adapt.schedule, index)
        labels += [t.label for t in state.components.losses
                   if t.applies(kind.name, index) and t.label not in labels]
    return labels


def record_failure(state: RunState, exc: BaseException) -> None:
    """Mark the run folder failed (or interrupted), record why in run.json, and tell the user
    what the folder keeps (as a note on a GanAdaptError, which the CLI prints)."""
    status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    checkpoints = state.folder.list_checkpoints()
    last = f"checkpoints/{checkpoints[-1].name}" if checkpoints else None
    error = str(exc) if isinstance(exc, GanAdaptError) else f"{type(exc).__name__}: {exc}"
    try:
        state.folder.update_meta(status=status, error=error, last_checkpoint=last,
                                 failed_at={"phase": state.phase, "step": state.step})
    except OSError:  # the disk may be full: run.json then keeps its previous content
        pass
    if not isinstance(exc, GanAdaptError):
        return
    root = state.folder.root
    kept = (f"keeps its last complete checkpoint, {last}" if last
            else "has no checkpoint yet (a resume starts its phase over)")
    if isinstance(exc, TrainingDiverged):
        exc.add_note(f"The run folder {root} is marked failed and {kept}. A resumed run would "
                     "replay the same steps: start a new run with the lower value instead.")
    elif isinstance(exc, OutOfMemory):
        exc.add_note(f"The run folder {root} is marked failed and {kept}. A resume keeps the "
                     "recipe, so it helps only if other processes held the memory (gan-adapt "
                     f"run --resume {root}); to use a memory mode, start a new run.")
    elif _plugin_caused(exc) and _has_plugin_code(state):
        # Fixing a plugin changes its code, and a plain resume refuses changed plugin code
        # (gan_adapt.plugin_host.provenance.check_resume_plugins): name the option that accepts it.
        exc.add_note(f"The run folder {root} is marked failed and {kept}. Once the plugin is "
                     f"fixed, continue with: gan-adapt run --resume {root} "
                     "--allow-changed-plugins (a resume refuses plugin code that changed since "
                     "the run started, unless this option accepts it)")
    else:
        exc.add_note(f"The run folder {root} is marked failed and {kept}. Once the cause is "
                     f"fixed, continue with: gan-adapt run --resume {root}")


def _plugin_caused(exc: GanAdaptError) -> bool:
    """True for a failure of a component's code: a broken contract or a crash (PluginError),
    or a component's own error, which the engine notes as "(raised by ...)"."""
    return isinstance(exc, PluginError) or any(
        note.startswith("(raised by ") for note in getattr(exc, "__notes__", ()))


def _has_plugin_code(state: RunState) -> bool:
    """True when the run loaded plugins other than gan-adapt's own, whose code a resume checks
    (built-in components change only with gan-adapt itself)."""
    plugins = getattr(state.plugin_set, "plugins", {})
    return any(info.origin != "builtin" for info in plugins.values())
