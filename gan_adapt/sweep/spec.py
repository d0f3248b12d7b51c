"""The sweep file and its expansion into runs."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from gan_adapt.errors import RecipeError
from gan_adapt.recipe.schema import pydantic_problems, read_toml_file
from gan_adapt.recipe.targets import existing_path


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
    """A sweep file: one or several base recipes, targets, override grids and seeds."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Sweep name; the sweep folder is named after it.")
    base: str | list[str] = Field(description="Base recipe, or a list of base recipes (e.g. "
                                  "different mixes of loss terms), relative to the sweep file; "
                                  "each base is run with every target, grid point and seed.")
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

    @field_validator("base", mode="wrap")
    @classmethod
    def _one_or_a_list(cls, value: Any, handler: Any) -> str | list[str]:
        """One problem line for a wrong ``base`` (not one per member of the union)."""
        if isinstance(value, str) or (isinstance(value, list)
                                      and all(isinstance(item, str) for item in value)):
            return handler(value)
        raise PydanticCustomError("base_type", "expected a recipe path or a list of recipe paths")

    @property
    def bases(self) -> list[str]:
        """The base recipes as written (one for a plain string ``base``)."""
        return [self.base] if isinstance(self.base, str) else list(self.base)

    @property
    def several_bases(self) -> bool:
        """Whether ``base`` is a list: runs then name their base (ids, ``values``, table)."""
        return not isinstance(self.base, str)


@dataclass
class RunSpec:
    """One run of a sweep: its base recipe plus its own target, overrides and seed."""

    run_id: str
    base: str  # the base recipe, resolved
    target: str | None
    overrides: list[str]
    seed: int | None
    # the grid point (and, with several bases, the base's stem under "base"), for the table
    values: dict[str, Any] = field(default_factory=dict)

    def cli_args(self) -> list[str]:
        """Arguments of ``gan-adapt run`` that start this run (the folder comes separately)."""
        args = [self.base]
        if self.target is not None:
            args += ["--target", self.target]
        for item in self.overrides:
            args += ["--set", item]
        if self.seed is not None:
            args += ["--set", f"seed={self.seed}"]
        return args


def read_sweep(path: str | Path) -> Sweep:
    """Parse and validate a sweep file (all problems reported at once)."""
    from gan_adapt.io.safe_paths import not_a_file_message, special_file_kind
    from gan_adapt.recipe.limits import name_problems, value_problems

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
    problems += _override_problems(sweep)
    problems += name_problems(sweep.name, "name")
    if not sweep.bases:
        problems.append("base: give a recipe or a non-empty list of recipes")
    stems: dict[str, str] = {}
    for index, name in enumerate(sweep.bases):
        where = f"base[{index}]" if sweep.several_bases else "base"
        base = existing_path(path.parent / name) if name.strip() else None
        if base is None or not base.is_file():
            problems.append(f"{where}: recipe {name} does not exist (relative to {path.parent})")
        stem = Path(name).stem
        if stem in stems:  # run ids, `values` and the table tell bases apart by their stem
            problems.append(f"{where}: recipe {name} has the same file name stem {stem!r} as "
                            f"{stems[stem]}; rename one (runs are labelled by the stem)")
        stems.setdefault(stem, name)
    if problems:
        raise RecipeError(problems, source=str(path))
    return sweep


def _override_problems(sweep: Sweep) -> list[str]:
    """Grid values and ``set`` entries go through ``--set``'s own parser: whatever it would
    refuse (a bad key, a date, a value that does not read back) is refused here, by key."""
    from gan_adapt.recipe.schema import override_text, parse_override

    problems = []
    for key, values in sweep.grid.items():
        for index, value in enumerate(values):
            try:
                override_text(key, value)
            except ValueError as exc:
                problems.append(f"grid.{key}[{index}]: {exc}")
                break  # one line per key is enough
    for index, text in enumerate(sweep.set):
        try:
            parse_override(text)
        except ValueError as exc:
            problems.append(f"set[{index}]: {exc}")
    return problems


def _slug(text: str, limit: int = 24) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:limit] or "x"


def base_path(sweep_file: Path, base: str) -> str:
    """A base recipe of the sweep file as the absolute path runs receive."""
    return str((sweep_file.parent / base).resolve())


def expand(sweep: Sweep, sweep_file: Path) -> list[RunSpec]:
    """Every (base, target, grid point, seed) combination, in a stable order (bases outermost,
    in the file's order) with stable ids.

    With a single ``base`` string, ids and ``values`` are exactly those of sweeps before bases
    could be listed, so existing sweep folders still resume.
    """
    from gan_adapt.recipe.schema import override_text

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
    several = sweep.several_bases
    runs = []
    for index, (base, target, point, seed) in enumerate(
            itertools.product(sweep.bases, targets, points, seeds)):
        grid_values = dict(zip(keys, point))
        overrides = list(sweep.set) + [override_text(k, v) for k, v in grid_values.items()]
        stem = Path(base).stem
        target_label = ""
        if target is not None:
            target_label = _slug(Path(target).stem if existing_path(target) else target)
        label = "-".join(filter(None, [
            _slug(stem) if several else "",
            target_label,
            *(_slug(f"{k.split('.')[-1]}{v}") for k, v in grid_values.items()),
            f"s{seed}" if seed is not None else ""]))
        # with several bases the stem (unique among them, see read_sweep) tells runs apart
        fingerprint = [stem, target, overrides, seed] if several else [target, overrides, seed]
        digest = hashlib.sha1(json.dumps(fingerprint).encode()).hexdigest()[:6]
        values = {"base": stem, **grid_values} if several else grid_values
        runs.append(RunSpec(f"{index:03d}-{label or 'run'}-{digest}", base_path(sweep_file, base),
                            target, overrides, seed, values))
    return runs
