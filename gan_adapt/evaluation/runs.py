"""Open a finished run folder for evaluation: its recipe, source and adapted generators, target.

The source generator is rebuilt from the run's own ``recipe.toml`` through the plugin registry
(exactly as the run built it); the adapted one is read from ``generator/`` as listed in
``result.json``: a native StyleGAN2 folder, or the plain state dict that runs of other generator
types write (loaded into a copy of the rebuilt source).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gan_adapt.engine.run_folder import RunFolder
from gan_adapt.errors import CheckpointError, GanAdaptError, InputError
from gan_adapt.plugin_host.context import BuildContext, TargetData
from gan_adapt.recipe.schema import ValidatedRecipe, read_toml, validate


@dataclass
class LoadedRun:
    """A finished run, ready to be sampled."""

    folder: RunFolder
    validated: ValidatedRecipe
    meta: dict[str, Any]
    source: Any  # G_s, eval mode, no grad
    adapted: Any  # G_t (the run's EMA generator), eval mode, no grad
    target: TargetData
    device: torch.device

    @property
    def name(self) -> str:
        """The run folder's name (what tables and sheets label the run with)."""
        return self.folder.root.resolve().name


def open_run_recipe(path: str | Path, plugin_set: Any) -> tuple[RunFolder, dict[str, Any],
                                                                ValidatedRecipe]:
    """The run folder, its ``run.json`` and its validated recipe (no model is built)."""
    folder = RunFolder(path)
    if not folder.root.is_dir():
        raise InputError(f"{folder.root}: no such run folder")
    from gan_adapt.engine.run_target import in_folder
    from gan_adapt.io.safe_paths import is_within

    meta = folder.read_meta()
    if not folder.recipe.exists():
        raise InputError(f"{folder.root} has no recipe.toml; is it a gan-adapt run folder?")
    if not is_within(folder.root, folder.recipe):
        raise InputError(f"{folder.recipe} is a link that leads outside the run folder; it is "
                         "not read")
    data = dict(read_toml(folder.recipe))
    # The target is read from the run's own copy, never from the path the recipe records.
    if isinstance(data.get("target"), dict):
        data["target"], notes = in_folder(folder.root, data["target"])
        if notes:
            raise InputError(f"{folder.root}: {notes[0]}")
    validated = validate(data, plugin_set, base_dir=Path(meta.get("base_dir") or folder.root),
                         source=str(folder.recipe))
    return folder, meta, validated


def _check_finished(folder: RunFolder, meta: dict[str, Any]) -> None:
    """InputError for a run that is not finished (see :mod:`gan_adapt.io.run_status`)."""
    from gan_adapt.io.run_status import require_finished

    result_file = folder.root / "result.json"
    if meta.get("status") == "done" and (result_file.exists() or result_file.is_symlink()):
        return
    require_finished(folder.root)
    raise InputError(f"{folder.root} has no adapted generator yet (run status: "
                     f"{meta.get('status', 'unknown')}); finish it first: "
                     f"gan-adapt run --resume {folder.root}")


def result_outputs(folder: RunFolder, meta: dict[str, Any]) -> dict[str, str]:
    """The `outputs` of a finished run's result.json; InputError for an unfinished run."""
    from gan_adapt.engine.run_records import read_outputs

    _check_finished(folder, meta)
    return read_outputs(folder.root)


def build_source(validated: ValidatedRecipe, plugin_set: Any, device: torch.device) -> Any:
    """The run's source generator, built from its recipe like the engine builds it."""
    recipe = validated.recipe
    component = plugin_set.registry.get("generator", recipe.generator.name)
    if component is None:
        raise GanAdaptError(f"the run's generator {recipe.generator.name!r} is not registered; "
                            "load the plugin that provides it (--plugins-dir or install it)")
    ctx = BuildContext(device=device, base_dir=validated.base_dir, target=TargetData())
    G = component.build(validated.params["generator"], ctx)
    return G.to(device).eval().requires_grad_(False)


def load_adapted(folder: RunFolder, outputs: dict[str, str], source: Any,
                 device: torch.device) -> Any:
    """The adapted generator a finished run wrote."""
    relative = outputs.get("generator")
    if relative is None:
        raise InputError(f"{folder.root}/result.json lists no generator output")
    from gan_adapt.io.safe_paths import is_within, record_path, regular_inside

    path = record_path(folder.root, relative)
    if path is None:
        raise InputError(f"{folder.root}/result.json names a generator outside the run folder")
    if not path.exists():
        raise InputError(f"the adapted generator {path} is missing")
    if path.is_dir():
        inside = [p for p in path.rglob("*") if not p.is_dir()]
        if not is_within(folder.root, path) or not all(regular_inside(folder.root, p)
                                                       for p in inside):
            raise InputError(f"the adapted generator {path} holds links that lead outside the "
                             "run folder (or special files); it is not read")
        from gan_adapt.generators import load

        G = load(path, device=device)
    else:
        G = copy.deepcopy(source)
        state = folder.load_state(path, device)
        try:
            G.load_state_dict(state)
        except (TypeError, ValueError, RuntimeError, AttributeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise CheckpointError(f"{path} is damaged: it does not fit the run's generator "
                                  f"({type(exc).__name__}: {first[:200]})") from None
    return G.to(device).eval().requires_grad_(False)


def open_finished_run(path: str | Path, plugin_set: Any,
                      device: torch.device | str = "cpu") -> LoadedRun:
    """Open a finished run: recipe, G_s, G_t and the target at G's resolution."""
    from gan_adapt.engine.build import load_target

    device = torch.device(device)
    folder, meta, validated = open_run_recipe(path, plugin_set)
    outputs = result_outputs(folder, meta)
    source = build_source(validated, plugin_set, device)
    adapted = load_adapted(folder, outputs, source, device)
    target = load_target(validated, source.img_resolution)
    for name in ("image", "images"):
        value = getattr(target, name)
        if value is not None:
            setattr(target, name, value.to(device))
    return LoadedRun(folder, validated, meta, source, adapted, target, device)
