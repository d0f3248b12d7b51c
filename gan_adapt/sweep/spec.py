"""The sweep file and its expansion into runs."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gan_adapt.errors import RecipeError
from gan_adapt.recipe import pydantic_problems, read_toml_file
from gan_adapt.targets import existing_path


class RaySettings(BaseModel):
    """How runs become Ray tasks."""

    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(None, description="Address of an existing Ray cluster "
                                                  "('auto' or host:port); none: start a local one.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a local Ray instance "
                                                         "(none: all).")
    cpus_per_run: float = Field(1, gt=0, description="CPUs each run reserves.")
    gpus_per_run: float = Field(0, ge=0, description="GPUs each run reserves (1 on GPU nodes).")


class EvalSettings(BaseModel):
    """What is measured on every finished run for the comparison table."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, description="Run `gan-adapt eval` on every finished run.")
    n: int = Field(100, ge=2, description="Samples per evaluation.")
    seed: int = Field(0, description="Evaluation seed.")
    target_dir: str | None = Field(None, description="Real target-domain images for FID/KID.")


class Sweep(BaseModel):
    """A sweep file: a base recipe, targets, override grids and seeds."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Sweep name; the sweep folder is named after it.")
    base: str = Field(description="Base recipe, relative to the sweep file.")
    targets: list[str] = Field(default_factory=list, description="Target images, folders or "
                               "texts (relative paths: to the sweep file); none: the recipe's.")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="`--set` keys -> "
                                       "values; every combination becomes a run.")
    set: list[str] = Field(default_factory=list, description="`--set` overrides for every run.")
    seeds: list[int] = Field(default_factory=list, description="Seeds; none: the recipe's.")
    backend: Literal["local", "ray"] = Field("local", description="Where runs execute.")
    gpus: Literal["auto", "none"] = Field(
        "auto", description="local backend: `auto` runs one run per visible GPU at a time.")
    threads_per_run: int | None = Field(None, ge=1, description="torch CPU threads of each run "
                                        "(fixed for reproducible results across backends).")
    ray: RaySettings = Field(default_factory=RaySettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)


@dataclass
class RunSpec:
    """One run of a sweep: the base recipe plus its own target, overrides and seed."""

    run_id: str
    target: str | None
    overrides: list[str]
    seed: int | None
    values: dict[str, Any] = field(default_factory=dict)  # the grid point, for the table

    def cli_args(self, base: Path) -> list[str]:
        """Arguments of ``gan-adapt run`` that start this run (the folder comes separately)."""
        args = [str(base)]
        if self.target is not None:
            args += ["--target", self.target]
        for item in self.overrides:
            args += ["--set", item]
        if self.seed is not None:
            args += ["--set", f"seed={self.seed}"]
        return args


def read_sweep(path: str | Path) -> Sweep:
    """Parse and validate a sweep file (all problems reported at once)."""
    from gan_adapt.recipe_limits import name_problems, value_problems
    from gan_adapt.safe_paths import not_a_file_message, special_file_kind

    path = Path(path)
    kind = special_file_kind(path)
    if kind:
        raise RecipeError([not_a_file_message(path, kind, "sweep file")])
    if existing_path(path) is None:
        raise RecipeError([f"sweep file {path} does not exist"])
    data = read_toml_file(path)  # unreadable, not UTF-8, invalid or too deep: RecipeError
    # A sweep file is data: it must never make gan-adapt import code. Plugin folders come
    # only from the command line (--plugins-dir) or the environment.
    refused = [f"{key}: a sweep file cannot name plugin folders (their .py files would be "
               "imported and run); pass --plugins-dir to `gan-adapt sweep` instead"
               for key in ("plugins_dir", "plugins-dir") if key in data]
    data = {k: v for k, v in data.items() if k not in ("plugins_dir", "plugins-dir")}
    problems = value_problems(data)  # NaN, inf, integers beyond 64 bits, any depth
    if problems:
        raise RecipeError(refused + problems, source=str(path))
    try:
        sweep = Sweep.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(refused + pydantic_problems(exc, Sweep), source=str(path)) from None
    problems = refused + [f"grid.{key}: give a non-empty list of values" for key, values in
                          sweep.grid.items() if not values]
    problems += name_problems(sweep.name, "name")
    base = existing_path(path.parent / sweep.base) if sweep.base.strip() else None
    if base is None or not base.is_file():
        problems.append(f"base: recipe {sweep.base} does not exist (relative to {path.parent})")
    if problems:
        raise RecipeError(problems, source=str(path))
    return sweep


def _toml_literal(value: Any) -> str:
    """A value as it must appear after ``--set key=`` (TOML literal)."""
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _slug(text: str, limit: int = 24) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:limit] or "x"


def expand(sweep: Sweep, sweep_file: Path) -> list[RunSpec]:
    """Every (target, grid point, seed) combination, in a stable order with stable ids."""
    folder = sweep_file.parent
    targets: list[str | None] = []
    for target in sweep.targets or [None]:
        found = existing_path(folder / target) if target is not None else None
        if found is not None:
            target = str(found.resolve())
        targets.append(target)
    keys = list(sweep.grid)
    points = list(itertools.product(*(sweep.grid[k] for k in keys))) or [()]
    seeds: list[int | None] = list(sweep.seeds) or [None]
    runs = []
    for index, (target, point, seed) in enumerate(itertools.product(targets, points, seeds)):
        values = dict(zip(keys, point))
        overrides = list(sweep.set) + [f"{k}={_toml_literal(v)}" for k, v in values.items()]
        target_label = ""
        if target is not None:
            target_label = _slug(Path(target).stem if existing_path(target) else target)
        label = "-".join(filter(None, [
            target_label,
            *(_slug(f"{k.split('.')[-1]}{v}") for k, v in values.items()),
            f"s{seed}" if seed is not None else ""]))
        digest = hashlib.sha1(json.dumps([target, overrides, seed]).encode()).hexdigest()[:6]
        runs.append(RunSpec(f"{index:03d}-{label or 'run'}-{digest}", target, overrides, seed,
                            values))
    return runs
