"""The engine: from a recipe file to a finished run folder.

:func:`start` is what ``gan-adapt run`` calls, through :func:`gan_adapt.api.public.run`. It
validates (:func:`read_recipe`), builds every component (so that any user error surfaces before
the run folder exists), creates the folder and runs the loop in :mod:`gan_adapt.engine.loop`
(:func:`start_new`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gan_adapt.engine.identity import check_resume_identity, run_identity
from gan_adapt.engine.run_folder import (
    RunFolder,
    default_run_dir,
    environment_record,
    require_run_folder,
)
from gan_adapt.engine.run_state import RunOutcome
from gan_adapt.errors import GanAdaptError, InputError
from gan_adapt.plugin_host.provenance import plugins_record
from gan_adapt.recipe.schema import ValidatedRecipe, read_toml, validate
from gan_adapt.recipe.targets import target_override
from gan_adapt.recipe.threads import apply_threads

__all__ = ["start", "read_recipe", "start_new", "target_override", "RunOutcome",
           "RunFolder"]


def start(recipe_path: str | Path | None, plugin_set: Any, *, out: str | Path | None = None,
          target: str | None = None, overrides: list[str] = (), resume: str | Path | None = None,
          device: str | None = None, progress_live: bool | None = None,
          allow_output_changes: bool = False, threads: int | str | None = None) -> RunOutcome:
    """Run a recipe (or resume a run folder) to completion or interruption.

    Under ``torchrun`` every process calls this; rank 0 alone writes the run folder and shows
    progress (see :mod:`gan_adapt.engine.distributed`). The writing process holds the folder's
    lock until the run ends; a resume first checks that the folder is still the run it was
    started as (:mod:`gan_adapt.engine.identity`); ``allow_output_changes`` accepts an edit of
    the recipe's [output] section, which cannot change the results. ``threads`` (a number or
    ``"auto"``) overrides the recipe's ``[run] threads`` (see :mod:`gan_adapt.recipe.threads`).
    """
    from gan_adapt.engine.distributed import init_from_env

    dist = init_from_env()
    if not dist.is_main:
        progress_live = False

    if resume is not None:
        if overrides or target:
            raise GanAdaptError("--resume continues a run exactly as it was started; "
                                "--set and --target cannot change it (start a new run instead)")
        folder = require_run_folder(resume)
        folder.writer = dist.is_main
        folder.lock()  # before anything is read or cleaned: another process may be running it
        try:
            return _resume(folder, plugin_set, dist, device, progress_live,
                           allow_output_changes, threads)
        finally:
            folder.unlock()

    if recipe_path is None:
        raise GanAdaptError("give a RECIPE file to run (or --resume RUN_DIR)")
    validated = read_recipe(recipe_path, plugin_set, target=target, overrides=overrides)
    return start_new(validated, plugin_set, out=out, target=target, overrides=overrides,
                     device=device, progress_live=progress_live, threads=threads)


def read_recipe(recipe_path: str | Path, plugin_set: Any, *, target: str | None = None,
                overrides: list[str] = ()) -> ValidatedRecipe:
    """Read and validate a recipe file as ``run`` does: ``--target`` replaces the recipe's target
    (keeping its ``source_text``), then the overrides apply. Builds nothing."""
    data = read_toml(recipe_path)
    if target is not None:
        data = dict(data)
        spec = target_override(target)
        kept = {k: v for k, v in (data.get("target") or {}).items() if k == "source_text"}
        data["target"] = {**kept, **spec}
    return validate(data, plugin_set, base_dir=Path(recipe_path).resolve().parent,
                    source=str(recipe_path), overrides=list(overrides))


def start_new(validated: ValidatedRecipe, plugin_set: Any, *, out: str | Path | None = None,
              target: str | None = None, overrides: list[str] = (), device: str | None = None,
              progress_live: bool | None = None, threads: int | str | None = None) -> RunOutcome:
    """Run a recipe read by :func:`read_recipe` (``target`` and ``overrides`` are what it was
    read with, recorded in run.json) into a new run folder."""
    from gan_adapt.engine.build import resolve_device
    from gan_adapt.engine.distributed import init_from_env
    from gan_adapt.engine.loop import prepare, run
    from gan_adapt.engine.preflight import check_built

    dist = init_from_env()  # idempotent: start() has usually called it already
    if not dist.is_main:
        progress_live = False
    torch_device = resolve_device(device or validated.recipe.device)
    thread_choice = apply_threads(threads if threads is not None else validated.recipe.run.threads)
    components = prepare(validated, plugin_set, torch_device)
    check_built(validated, components, torch_device)
    root = out if out is not None else default_run_dir(validated.recipe.name)
    folder = RunFolder(str(dist.broadcast(str(root))), writer=dist.is_main)
    folder.identity = run_identity(validated)
    meta = {"status": "created", "recipe_source": str(Path(validated.source).resolve()),
            "base_dir": str(validated.base_dir.resolve()), "device": str(torch_device),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "overrides": list(overrides),
            "target_override": target, "identity": folder.identity,
            "checkpoint_sources": checkpoint_sources(validated)}
    try:
        if dist.is_main:  # creates the folder and takes its lock
            folder.create(validated.raw, meta | {"processes": dist.world},
                          plugins_record(plugin_set), environment_record(torch_device))
            from gan_adapt.engine.run_target import keep_target

            keep_target(folder.root, validated.recipe.target, validated.base_dir)
            from gan_adapt.plugin_host.provenance import trust_run

            trust_run(folder.root)  # this user made it here: its plugins may be loaded again
        dist.barrier()
        return run(validated, plugin_set, folder, components, progress_live=progress_live,
                   threads=thread_choice)
    finally:
        folder.unlock()


def checkpoint_sources(validated: ValidatedRecipe) -> dict[str, str]:
    """Where each network checkpoint of the recipe is read from (``shipped:NAME``,
    ``zoo:NAME`` or ``path:/abs``), by recipe path: the resolution rule's answer, recorded in
    run.json so that a bare shipped name is never mistaken for a local folder later."""
    from gan_adapt.generators.checkpoints import describe_source

    sources = {}
    for section in ("generator", "discriminator"):
        params = (validated.raw.get(section) or {}).get("params") or {}
        value = params.get("checkpoint") if isinstance(params, dict) else None
        if isinstance(value, str) and value:
            sources[f"{section}.params.checkpoint"] = describe_source(value, validated.base_dir)
    return sources


def _resume(folder: RunFolder, plugin_set: Any, dist: Any, device: str | None,
            progress_live: bool | None, allow_output_changes: bool,
            threads: int | str | None = None) -> RunOutcome:
    """``--resume``: check the folder is the run it claims to be, then continue it."""
    from gan_adapt.engine.build import resolve_device
    from gan_adapt.engine.loop import prepare, run
    from gan_adapt.engine.preflight import check_built

    meta = folder.read_meta()
    if meta.get("status") == "done":
        raise GanAdaptError(f"{folder.root} is already finished; nothing to resume")
    from gan_adapt.io.safe_paths import is_within

    if not is_within(folder.root, folder.recipe):
        raise InputError(f"{folder.recipe} is a link that leads outside the run folder; it is "
                         "not read")
    validated = validate(read_toml(folder.recipe), plugin_set,
                         base_dir=Path(meta.get("base_dir") or folder.root),
                         source=str(folder.recipe))
    current = run_identity(validated)
    if check_resume_identity(folder.root, meta.get("identity"), current, allow_output_changes):
        folder.update_meta(identity=current)  # an accepted [output]-only edit
    folder.identity = current if meta.get("identity") is not None else None
    if dist.is_main:
        folder.remove_partial_writes()  # what a killed run was writing when it died
        from gan_adapt.engine.run_target import TARGET_DIR, keep_target

        kept = folder.root / TARGET_DIR
        if not kept.exists() and not kept.is_symlink():
            # a run started before runs kept their target: keep it now (checked just above)
            keep_target(folder.root, validated.recipe.target, validated.base_dir)
    dist.barrier()
    torch_device = resolve_device(device or meta.get("device", "auto"))
    thread_choice = apply_threads(threads if threads is not None else validated.recipe.run.threads)
    components = prepare(validated, plugin_set, torch_device)
    check_built(validated, components, torch_device)
    return run(validated, plugin_set, folder, components, resume=True,
               progress_live=progress_live, threads=thread_choice)
