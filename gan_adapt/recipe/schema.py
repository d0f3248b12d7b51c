"""Typed recipes: TOML -> pydantic models, with every error collected and reported at once.

A recipe names registered components and their params. Validation runs in three passes, each
collecting every problem it finds before anything is built:

1. TOML syntax and ``--set`` overrides;
2. the recipe's own structure (unknown keys, wrong types, bad values), against :class:`Recipe`;
3. every component reference: is the name registered (or does a ``requires`` plugin miss), and do
   its params validate against that component's own ``Params`` model.

Each problem carries its TOML path (``adapt.losses[2].params.n_crops``), what is wrong, and a
"did you mean" suggestion for unknown names and keys.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gan_adapt.errors import RecipeError
from gan_adapt.plugin_host.registry import validate_params
from gan_adapt.recipe.key_paths import format_path, split_path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")



def adam_betas(betas: tuple[float, float]) -> tuple[float, float]:
    """Adam betas must lie in [0, 1): torch refuses others, at the first step of the phase."""
    for i, beta in enumerate(betas):
        if not 0 <= beta < 1:
            raise ValueError(f"betas[{i}] = {beta} is outside [0, 1)")
    return betas


class ComponentRef(_Strict):
    """A registered component and its params: ``{ name = "...", params = { ... } }``."""

    name: str = Field(description="Name of a registered component (see `gan-adapt components`).")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="Parameters, validated by the component's model.")


class Term(ComponentRef):
    """A weighted loss or search term with a schedule."""

    weight: float = Field(1.0, gt=0, description="Multiplier of the term in the summed loss.")
    on: list[str] | None = Field(
        None, description="Step kinds the term applies to (adapt phase); all kinds when omitted.")
    every: int = Field(1, ge=1, description="Apply the term on every N-th step of those kinds.")
    start: int = Field(0, ge=0, description="First step at which the term applies.")


class Target(_Strict):
    """What to adapt towards: one image, a folder of images, or a text (with a source text)."""

    image: str | None = Field(None, description="Path of the target image.")
    images: str | None = Field(None, description="Folder of target images (few-shot recipes).")
    text: str | None = Field(None, description="Target description (text-guided recipes).")
    source_text: str | None = Field(None, description="Description of the source domain.")

    @model_validator(mode="after")
    def _one_kind(self) -> Target:
        if not (self.image or self.images or self.text):
            raise ValueError("give one of target.image, target.images or target.text "
                             "(or pass --target on the command line)")
        if self.image and self.images:
            raise ValueError("give target.image or target.images, not both")
        return self


class Search(_Strict):
    """Stage 1: optimise a latent of the source generator towards the target."""

    steps: int = Field(1000, ge=1, description="Optimisation steps.")
    lr: float = Field(0.01, gt=0, description="Adam learning rate.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas.")

    @field_validator("betas")
    @classmethod
    def check_betas(cls, betas: tuple[float, float]) -> tuple[float, float]:
        return adam_betas(betas)
    space: Literal["w", "w+"] = Field("w", description="Optimise one w, or one per layer (W+).")
    objective: list[Term] = Field(min_length=1, description="Weighted search terms.")
    log_every: int = Field(10, ge=1, description="Log term values every N steps.")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="`bf16`: the encoders and LPIPS run under bfloat16 autocast; the "
                            "generator stays float32. `auto`: bf16 where the hardware computes "
                            "it fast (CUDA compute capability 8.0+, CPUs with AVX512_BF16 or "
                            "AMX), fp32 elsewhere (see docs/performance.md).")
    compile: bool = Field(
        False, description="Run the generator's synthesis network through `torch.compile` "
                           "(inductor; fused kernels, fewer operator launches). The first step "
                           "compiles (minutes on a CPU); the results equal the eager ones within "
                           "float rounding (see docs/performance.md).")


class StepKind(_Strict):
    """One kind of adaptation step, and when it runs."""

    name: str = Field(description="Name that loss terms refer to in `on`.")
    every: int | None = Field(
        None, ge=1, description="Run on steps where step % every == offset; the last kind "
                                "without `every` takes the remaining steps.")
    offset: int = Field(0, ge=0, description="See `every`.")
    latents: Literal["reference", "random", "anchors"] = Field(
        "random", description="`reference`: the searched latent; `random`: fresh z each step; "
                              "`anchors`: z near one of a few fixed anchor points (few-shot "
                              "anchor regions, Ojha et al. 2021).")
    batch: int = Field(2, ge=1, description="Batch size of the step.")
    mixing: float = Field(0.9, ge=0, le=1, description="Style-mixing probability (random only).")
    anchors: int = Field(10, ge=1, description="Number of anchor points, drawn once per run "
                                               "from the seed (anchors only).")
    anchor_std: float = Field(0.1, ge=0, description="Standard deviation of the Gaussian "
                                                     "around an anchor z (anchors only).")


class Optimizer(_Strict):
    """Adam settings of one network."""

    lr: float = Field(gt=0, description="Learning rate.")
    betas: tuple[float, float] = Field((0.0, 0.99), description="Adam betas.")

    @field_validator("betas")
    @classmethod
    def check_betas(cls, betas: tuple[float, float]) -> tuple[float, float]:
        return adam_betas(betas)


class Adapt(_Strict):
    """Stage 2: fine-tune a copy of the generator with a schedule of step kinds."""

    steps: int = Field(ge=1, description="Fine-tuning steps.")
    schedule: list[StepKind] = Field(min_length=1, description="Step kinds, first match wins.")
    losses: list[Term] = Field(min_length=1, description="Weighted generator loss terms.")
    generator_optimizer: Optimizer = Field(default_factory=lambda: Optimizer(lr=0.002))
    discriminator_optimizer: Optimizer = Field(default_factory=lambda: Optimizer(lr=0.002))
    freeze: list[str] = Field(default_factory=list,
                              description="Generator parameter groups kept frozen (fnmatch).")
    train_noise: bool = Field(
        True, description="Train the generator's noise strengths (StyleGAN2's per-layer noise "
        "inputs). `false` keeps the source's: on the 32-px demo the adaptation otherwise "
        "learns to paint the fixed noise maps into every sample as rainbow speckle "
        "(docs/instruments.md, \"The demo's speckle\").")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="`bf16`: the encoders, LPIPS and the discriminator's four "
                            "highest-resolution blocks run under bfloat16 autocast; the "
                            "generator and D's low-resolution blocks stay float32. `auto`: bf16 "
                            "where the hardware computes it fast (CUDA compute capability 8.0+, "
                            "CPUs with AVX512_BF16 or AMX), fp32 elsewhere (see "
                            "docs/performance.md).")
    compile: bool = Field(
        False, description="Run the generators' synthesis networks and the discriminator through "
                           "`torch.compile` (inductor): one compilation per batch size and "
                           "autograd mode on first use (minutes on a CPU), then fused kernels "
                           "and fewer operator launches. R1 steps run D eagerly (compiled graphs "
                           "cannot be differentiated twice); checkpoints are unchanged (see "
                           "docs/performance.md).")
    ema_decay: float = Field(0.5 ** (32 / 10000), ge=0, lt=1,
                             description="EMA decay of the adapted generator (0 disables EMA).")
    truncation: float = Field(1.0, gt=0, description="Truncation of random training latents.")


class Output(_Strict):
    """What a run writes, and how often."""

    sample_every: int = Field(100, ge=1, description="Write a sample grid every N adapt steps.")
    checkpoint_every: int = Field(100, ge=1, description="Checkpoint every N adapt steps.")
    keep_checkpoints: int = Field(2, ge=1, description="How many recent checkpoints to keep.")
    n_samples: int = Field(8, ge=1, description="Latents in each sample grid.")
    truncation: float = Field(0.7, gt=0, description="Truncation of the sample grids' latents.")
    mean_w_from_layer: int | None = Field(
        None, ge=0, description="Sample the official OneShotCLIP way (its test_sample.py: 11): "
                                "in the adapted row, the layers from this index on take the "
                                "mean w instead of the sample's (fine styles from the mean face); "
                                "the source row keeps plain truncation, as there. Omitted: every "
                                "layer uses the truncated w.")
    log_every: int = Field(1, ge=1, description="Write the JSON log every N steps.")
    tensorboard: bool = Field(False, description="Also log to TensorBoard, in "
                              "`RUN_DIR/tensorboard` (every logged value, the sample grids, "
                              "the recipe; needs the `tensorboard` package; "
                              "`gan-adapt run --tensorboard`).")
    wandb: bool = Field(False, description="Also log to Weights & Biases, in `RUN_DIR/wandb` "
                        "(`pip install 'gan-adapt[wandb]'`; `WANDB_MODE=offline` logs locally).")
    wandb_project: str = Field("gan-adapt", min_length=1,
                               description="The W&B project of the run (with `wandb = true`).")


class RunSettings(_Strict):
    """``[run]``: how the run uses this machine (never what it computes)."""

    threads: int | Literal["auto"] = Field(
        "auto", description="CPU threads of the run: a number, or `auto` (OMP_NUM_THREADS if "
        "set; 1 on machines with at most 2 cores, where more threads slow down most when "
        "other work shares the cores; else the idle cores, at most 8). `--threads` overrides.")

    @field_validator("threads")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and (value < 1 or isinstance(value, bool)):
            raise ValueError("threads must be at least 1 (or auto)")
        return value


class Recipe(_Strict):
    """A complete adaptation recipe (the root of a recipe TOML file)."""

    name: str = Field(description="Short name; run folders are named after it.")
    description: str = Field("", description="One paragraph: what the recipe does.")
    requires: list[str] = Field(default_factory=list,
                                description="Plugins (distribution or entry-point names) needed.")
    seed: int = Field(0, description="Seed of every random draw of the run.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where to run.")
    generator: ComponentRef = Field(description="The source generator (kind `generator`).")
    discriminator: ComponentRef | None = Field(
        None, description="The source discriminator (kind `discriminator`), if a loss needs one.")
    encoders: dict[str, ComponentRef] = Field(
        default_factory=dict, description="Named encoders that terms refer to (kind `encoder`).")
    target: Target = Field(description="What to adapt towards (see [target]).")
    search: Search | None = Field(None, description="Latent search before adaptation "
                                                    "(see [search]); omitted: no search.")
    adapt: Adapt = Field(description="The fine-tuning phase (see [adapt]).")
    output: Output = Field(default_factory=Output, description="Samples, checkpoints, logs.")
    run: RunSettings = Field(default_factory=RunSettings,
                             description="How the run uses the machine (see [run]).")


# ---------------------------------------------------------------------------------------------
# Reading, overriding and validating


def read_toml(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Parse a recipe file, following ``extends``; file and syntax errors are RecipeErrors.

    ``extends = "base.toml"`` (relative to this file) starts from the base recipe and merges
    this file over it (see :func:`deep_merge`): tables merge key by key, other values (arrays
    included) replace the base's, and an array under a key ending in ``+`` is appended to the
    base's array (``[[adapt."losses+"]]`` adds one loss). Relative file paths resolve against
    the file that wrote them: the paths a base recipe inherits are rewritten relative to this
    file's folder (see :func:`_rebase_paths`), so ``validate`` and ``run`` of either file see
    the same files.
    """
    path = Path(path)
    data = read_toml_file(path)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise RecipeError(["extends: expected the path of a base recipe"], source=str(path))
    base_path = (path.parent / base_name).resolve()
    if base_path in _seen or base_path == path.resolve():
        raise RecipeError([f"extends: {base_name} extends itself (a cycle)"], source=str(path))
    base = read_toml(base_path, _seen + (path.resolve(),))
    _rebase_paths(base, base_path.parent, path.resolve().parent)
    return deep_merge(base, data)


def _rebase_paths(data: Any, written_in: Path, used_from: Path, key: str = "") -> None:
    """Rewrite, in place, the relative file paths of a base recipe written in folder
    ``written_in`` so that they resolve the same from folder ``used_from``.

    A string is a path when it is ``target.image`` / ``target.images``, or a component
    parameter that names an existing file or folder relative to ``written_in`` (a model-zoo
    name such as ``"ffhq-1024"`` is no file, and stays as it is).
    """
    if written_in == used_from:
        return
    if isinstance(data, dict):
        for name, value in data.items():
            if isinstance(value, str):
                if _is_relative_file(value, written_in, always=key == "target"
                                     and name in ("image", "images")):
                    data[name] = os.path.relpath(written_in / value, used_from)
            else:
                _rebase_paths(value, written_in, used_from, name)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            if isinstance(value, str):
                if _is_relative_file(value, written_in):
                    data[i] = os.path.relpath(written_in / value, used_from)
            else:
                _rebase_paths(value, written_in, used_from, key)


def _is_relative_file(value: str, folder: Path, always: bool = False) -> bool:
    from gan_adapt.weights import shipped, zoo

    try:
        path = Path(value)
        if not value or path.is_absolute() or value.startswith("~"):
            return False
        if not always and (shipped.lookup(value) is not None or zoo.lookup(value) is not None):
            return False  # a model's name, even beside a same-named folder (see resolve())
        return always or (folder / path).exists()
    except (OSError, ValueError):
        return False


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: nested tables merge, other values replace, and an array
    under ``key+`` is appended to ``base[key]``."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key.endswith("+") and isinstance(value, list):
            name = key[:-1]
            inherited = merged.get(name, [])
            merged[name] = (list(inherited) if isinstance(inherited, list) else [inherited]) \
                + copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_toml_file(path: Path) -> dict[str, Any]:
    """One TOML file (without following ``extends``); every reading problem a RecipeError."""
    from gan_adapt.io.safe_paths import not_a_file_message, special_file_kind

    kind = special_file_kind(path)
    if kind:
        raise RecipeError([not_a_file_message(path, kind, "recipe")])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError([f"recipe file {path} does not exist"]) from None
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL in the path
        raise RecipeError([f"cannot read recipe file {path}: {exc}"]) from None
    from gan_adapt.recipe.limits import too_deep

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError([f"invalid TOML: {exc}"], source=str(path)) from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise RecipeError(["invalid TOML: values nested too deeply to read"],
                          source=str(path)) from None
    deep = too_deep(data)  # before `extends` merges it recursively
    if deep:
        raise RecipeError([deep], source=str(path))
    return data


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """Split ``a.b[2].c=value`` into a key path and a value parsed as a TOML literal.

    A value that is not a TOML literal is taken as a plain string, so ``--set
    target.text=a pencil sketch`` works without quotes.
    """
    if "=" not in text:
        raise ValueError(f"--set {text!r}: expected KEY=VALUE")
    key, raw = text.split("=", 1)
    path = split_path(key.strip())
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    except RecursionError:
        raise ValueError(f"--set {text[:60]!r}...: the value is nested too deeply") from None
    dated = _date_or_time(value)
    if dated is not None:
        raise ValueError(f"--set {key.strip()}: {_DATE_PROBLEM.format(value=dated)}")
    return path, value


#: Why a TOML date or time is refused as an override value (``--set``, sweep grids, the API).
_DATE_PROBLEM = ("{value} is a TOML date/time, which no setting takes; write it in quotes to "
                 "pass it as text")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _date_or_time(value: Any) -> Any:
    """The first TOML date, time or date-time inside ``value`` (None: there is none)."""
    import datetime

    from gan_adapt.recipe.limits import walk

    return next((v for _, v in walk(value)
                 if isinstance(v, (datetime.date, datetime.time))), None)


def override_literal(value: Any, depth: int = 0) -> str:
    """The TOML literal that ``--set key=`` takes for the Python ``value`` (strings, booleans,
    numbers, lists and string-keyed mappings); :func:`parse_override` reads it back as ``value``.

    Raises ValueError, with a sentence saying why, for any other value (a date, None, an
    object). Sweep grids and the API's mapping overrides both go through it, so that they take
    exactly what ``--set`` takes.
    """
    import datetime
    import json
    import math
    import numbers
    from collections.abc import Mapping

    from gan_adapt.recipe.limits import MAX_DEPTH

    if depth > MAX_DEPTH:
        raise ValueError(f"the value is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, numbers.Integral):  # numpy integers too
        return str(int(value))
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        return json.dumps(float(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(override_literal(v, depth + 1) for v in value) + "]"
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ValueError("a table's keys must be strings")
        items = (f"{k if _BARE_KEY.fullmatch(k) else _toml_string(k)} = "
                 f"{override_literal(v, depth + 1)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (datetime.date, datetime.time)):
        raise ValueError(_DATE_PROBLEM.format(value=value))
    raise ValueError(f"{type(value).__name__} value {str(value)[:40]!r} has no TOML form; "
                     "--set takes strings, numbers, booleans, arrays and inline tables")


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
                  "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string of printable ASCII (what ``json.dumps`` writes for the
    characters both formats escape alike, so run ids of older sweeps stay the same)."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"{text[:40]!r} holds a lone surrogate, which TOML cannot hold")
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def override_text(key: str, value: Any) -> str:
    """``key=<literal>`` as ``--set`` takes it, checked to parse back to ``key`` and ``value``
    (ValueError saying why not)."""
    literal = override_literal(value)
    path, parsed = parse_override(f"{key}={literal}")
    if path != split_path(key.strip()) or override_literal(parsed) != literal:
        raise ValueError(f"{str(value)[:40]!r} does not read back as the same value")
    return f"{key}={literal}"


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Return a copy of ``data`` with ``--set`` overrides applied, and the problems found."""
    data = copy.deepcopy(data)
    problems = []
    for text in overrides:
        try:
            path, value = parse_override(text)
        except ValueError as exc:
            message = str(exc)
            problems.append(message if message.startswith("--set") else f"--set {text}: {message}")
            continue
        node: Any = data
        for i, part in enumerate(path[:-1]):
            nxt = path[i + 1]
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    problems.append(f"--set {text}: {format_path(path[:i + 1])} does not exist")
                    break
                node = node[part]
            else:
                if not isinstance(node, dict):
                    problems.append(f"--set {text}: {format_path(path[:i])} is not a table")
                    break
                node = node.setdefault(part, [] if isinstance(nxt, int) else {})
        else:
            last = path[-1]
            if isinstance(last, int):
                if not isinstance(node, list) or last >= len(node):
                    problems.append(f"--set {text}: {format_path(path)} does not exist")
                else:
                    node[last] = value
            elif isinstance(node, dict):
                node[last] = value
            else:
                problems.append(f"--set {text}: {format_path(path[:-1])} is not a table")
    return data, problems


def suggest(word: str, choices: list[str] | set[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """Field names of the model found by walking ``loc`` through ``model``'s annotations."""
    import typing

    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return set()
        field = current.model_fields.get(part)
        if field is None:
            return set()
        current = field.annotation
        # unwrap Optional[...] / list[...] / dict[str, ...]
        for _ in range(3):
            args = [a for a in typing.get_args(current) if a is not type(None)]
            if isinstance(current, type) and issubclass(current, BaseModel):
                break
            if not args:
                break
            current = args[-1]
    if isinstance(current, type) and issubclass(current, BaseModel):
        return set(current.model_fields)
    return set()


def pydantic_problems(exc: ValidationError, model: type[BaseModel],
                      prefix: tuple[Any, ...] = ()) -> list[str]:
    """Turn a pydantic error into ``path: message`` lines, with key suggestions."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = format_path(prefix + loc)
        if err["type"] == "extra_forbidden":
            known = _fields_at(model, loc[:-1])
            problems.append(f"{path}: unknown key{suggest(loc[-1], known)}")
        elif err["type"] == "missing":
            problems.append(f"{path}: required key is missing")
        else:
            got = err.get("input")
            shown = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
            problems.append(f"{path}: {err['msg']}{shown}")
    return problems


class ValidatedRecipe:
    """A recipe whose structure and every component reference passed validation."""

    def __init__(self, recipe: Recipe, raw: dict[str, Any], params: dict[str, BaseModel],
                 base_dir: Path, source: str) -> None:
        self.recipe = recipe
        self.raw = raw  # the dict after overrides: what the run folder records
        self.params = params  # TOML path of each component ref -> its validated params
        self.base_dir = base_dir  # relative paths in the recipe are relative to this
        self.source = source

    def component_params(self, path: str) -> BaseModel:
        """Validated params of the component at ``path`` (e.g. ``adapt.losses[0]``)."""
        return self.params[path]


def _component_refs(recipe: Recipe) -> list[tuple[str, str, ComponentRef]]:
    """(TOML path, kind, reference) of every component the recipe names."""
    refs: list[tuple[str, str, ComponentRef]] = [("generator", "generator", recipe.generator)]
    if recipe.discriminator is not None:
        refs.append(("discriminator", "discriminator", recipe.discriminator))
    refs += [(f"encoders.{key}", "encoder", ref) for key, ref in recipe.encoders.items()]
    if recipe.search is not None:
        refs += [(f"search.objective[{i}]", "search_objective", t)
                 for i, t in enumerate(recipe.search.objective)]
    refs += [(f"adapt.losses[{i}]", "loss", t) for i, t in enumerate(recipe.adapt.losses)]
    return refs


def validate(data: dict[str, Any], plugin_set: Any, *, base_dir: Path | str = ".",
             source: str = "recipe", overrides: list[str] = ()) -> ValidatedRecipe:
    """Validate a parsed recipe against the schema and the loaded components.

    Raises RecipeError listing every problem found. Builds nothing.
    """
    from gan_adapt.recipe.limits import value_problems

    problems = value_problems(data)  # first: deep data would exhaust the copy's recursion
    if problems:
        raise RecipeError(problems, source)
    data, problems = apply_overrides(data, list(overrides))
    if not problems:
        problems = value_problems(data)  # what the overrides brought in
    if problems:
        raise RecipeError(problems, source)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(pydantic_problems(exc, Recipe), source) from None

    registry = plugin_set.registry
    missing_plugins = [name for name in recipe.requires if not plugin_set.has_plugin(name)]
    problems = [_missing_plugin(plugin_set, name) for name in missing_plugins]
    params: dict[str, BaseModel] = {}
    needs_d: list[str] = []
    for path, kind, ref in _component_refs(recipe):
        component = registry.get(kind, ref.name)
        if component is None:
            hint = suggest(ref.name, registry.names(kind))
            if not hint and missing_plugins:
                hint = f" (it may come from the missing plugin {missing_plugins[0]!r})"
            elif not hint and getattr(plugin_set, "failures", None):
                hint = (" (plugins that failed to load: "
                        + ", ".join(f"{f.name!r}: {f.error}" for f in plugin_set.failures) + ")")
            known = ", ".join(registry.names(kind)) or "none"
            problems.append(f"{path}.name: unknown {kind} {ref.name!r}{hint}; "
                            f"registered: {known}")
            continue
        if getattr(component.factory, "needs_discriminator", False):
            needs_d.append(path)
        try:
            params[path] = validate_params(component.params_model, ref.params)
        except ValidationError as exc:
            problems += pydantic_problems(exc, component.params_model,
                                          tuple(split_path(path)) + ("params",))
    problems += _cross_checks(recipe, params, needs_d)
    problems += _missing_trackers(recipe)
    problems += _limits(recipe, registry.get("generator", recipe.generator.name))
    problems += _missing_target_files(recipe, Path(base_dir))
    if problems:
        raise RecipeError(problems, source)
    return ValidatedRecipe(recipe, data, params, Path(base_dir), source)


def _missing_plugin(plugin_set: Any, name: str) -> str:
    """The ``requires`` problem for a plugin that is not loaded: not installed, or installed
    but broken (then its error)."""
    failure_of = getattr(plugin_set, "failure_of", None)
    failure = failure_of(name) if failure_of is not None else None
    if failure is not None:
        return f"requires: plugin {name!r} is installed but did not load: {failure.error}"
    return (f"requires: plugin {name!r} is not installed; install it (pip install {name}) "
            "or load it with --plugins-dir")


def _cross_checks(recipe: Recipe, params: dict[str, BaseModel], needs_d: list[str]) -> list[str]:
    """Checks that span sections: step-kind names, encoder names, the discriminator."""
    problems = []
    kinds = [k.name for k in recipe.adapt.schedule]
    if len(set(kinds)) != len(kinds):
        problems.append("adapt.schedule: step kind names must be unique")
    if recipe.adapt.schedule[-1].every is not None:
        problems.append("adapt.schedule: the last step kind must have no `every` "
                        "(it takes the steps no other kind claims)")
    for i, term in enumerate(recipe.adapt.losses):
        for kind in term.on or []:
            if kind not in kinds:
                problems.append(f"adapt.losses[{i}].on: unknown step kind {kind!r}"
                                f"{suggest(kind, kinds)}; the schedule has {kinds}")
    for path, value in params.items():
        for field in ("encoder",):
            name = getattr(value, field, None)
            if isinstance(name, str) and name not in recipe.encoders:
                known = sorted(recipe.encoders)
                problems.append(f"{path}.params.{field}: no encoder named {name!r} in [encoders]"
                                f"{suggest(name, known)}; defined: {known or 'none'}")
    if recipe.discriminator is None:
        problems += [f"{path}: this term needs a discriminator; add a [discriminator] table to "
                     "the recipe" for path in needs_d]
    uses_reference = any(k.latents == "reference" for k in recipe.adapt.schedule)
    if uses_reference and recipe.search is None:
        problems.append("adapt.schedule: a step kind uses `latents = \"reference\"` but the "
                        "recipe has no [search] section to find the reference latent")
    if not problems:  # the kinds are known: every step must have a term to optimise
        problems += _steps_without_terms(recipe)
        problems += _batches_too_small(recipe, params)
    return problems


def _batches_too_small(recipe: Recipe, params: dict[str, BaseModel]) -> list[str]:
    """A term whose params model declares ``min_batch()`` (samples it compares with each other)
    must never apply on a step kind with a smaller batch: the run would stop at that step."""
    from gan_adapt.recipe.schedule import kinds_by_step, term_applies

    problems = []
    steps = None
    for i, term in enumerate(recipe.adapt.losses):
        min_batch = getattr(params.get(f"adapt.losses[{i}]"), "min_batch", None)
        needed = min_batch() if callable(min_batch) else None
        if not isinstance(needed, int) or needed <= 1:
            continue
        if steps is None:  # replayed like validate's warnings: every pattern of a real recipe
            steps = list(kinds_by_step(recipe.adapt.schedule, min(recipe.adapt.steps, 200_000)))
        batch = {kind.name: kind.batch for kind in recipe.adapt.schedule}
        small = sorted({kind for index, kind in steps
                        if batch[kind] < needed and term_applies(term, kind, index)})
        for kind in small:
            problems.append(f"adapt.losses[{i}] ({term.name!r}) needs a batch of at least "
                            f"{needed}, but it applies on {kind!r} steps, whose batch is "
                            f"{batch[kind]}; raise that kind's batch or leave it out of the "
                            "term's `on`")
    return problems


def _steps_without_terms(recipe: Recipe) -> list[str]:
    """A step at which no term applies has nothing to optimise: the run would stop there."""
    from gan_adapt.recipe.schedule import first_step_without_terms

    problems = []
    gap = first_step_without_terms(recipe.adapt.losses, recipe.adapt.schedule,
                                   recipe.adapt.steps)
    if gap is not None:
        index, kind = gap
        problems.append(
            f"adapt.losses: no loss term applies at adapt step {index} (a {kind!r} step), so "
            "that step has nothing to optimise and the run would stop there. Every step needs "
            f"at least one term: add one that runs on {kind!r} steps (its `on`, `every` and "
            "`start` decide where a term applies)")
    if recipe.search is not None:
        gap = first_step_without_terms(recipe.search.objective, None, recipe.search.steps)
        if gap is not None:
            problems.append(
                f"search.objective: no term applies at search step {gap[0]}, so that step has "
                "nothing to optimise. Every search step needs at least one term (search steps "
                "are of kind 'search': a term whose `on` leaves it out never applies there)")
    return problems


def _missing_trackers(recipe: Recipe) -> list[str]:
    """Experiment trackers the recipe turns on must be installed (checked without importing)."""
    from importlib.util import find_spec

    wanted = {"tensorboard": ("tensorboard", "pip install tensorboard"),
              "wandb": ("wandb", "pip install 'gan-adapt[wandb]'")}
    return [f"output.{key}: needs the {package!r} package, which is not installed ({hint})"
            for key, (package, hint) in wanted.items()
            if getattr(recipe.output, key) and find_spec(package) is None]


def _limits(recipe: Recipe, generator: Any) -> list[str]:
    """What the run would refuse once built, checked without building: the name as a folder
    name, freeze patterns (a typo, or nothing left to train), sizes that fit no machine's
    memory. A generator factory may list every parameter group it can have
    (``factory.parameter_group_names``); without it, StyleGAN2's stand in and only "nothing
    left to train" is checked here (the build checks the rest, before the run folder exists)."""
    from gan_adapt.recipe.limits import memory_problems, name_problems
    from gan_adapt.recipe.parameter_groups import STYLEGAN2_GROUPS, freeze_problems

    groups = getattr(getattr(generator, "factory", None), "parameter_group_names", None)
    groups = tuple(groups) if isinstance(groups, (tuple, list)) else None
    return (name_problems(recipe.name, "name")
            + freeze_problems(recipe.adapt.freeze, groups or STYLEGAN2_GROUPS,
                              unmatched=groups is not None)
            + memory_problems(recipe))


def _missing_target_files(recipe: Recipe, base_dir: Path) -> list[str]:
    """The target files the recipe names must exist (checked without reading them)."""
    problems = []
    for key in ("image", "images"):
        value = getattr(recipe.target, key)
        if not value:
            continue
        try:
            exists = (base_dir / Path(value).expanduser()).exists()
        except (OSError, ValueError, RuntimeError) as exc:  # too long, NUL byte, ~unknown-user
            problems.append(f"target.{key}: {value!r} cannot be used as a path ({exc})")
            continue
        if not exists:
            problems.append(f"target.{key}: {value} does not exist (relative paths are relative "
                            f"to the recipe's folder {base_dir})")
    return problems


def read_and_validate(path: str | Path, plugin_set: Any,
                      overrides: list[str] = ()) -> ValidatedRecipe:
    """Read and validate a recipe file (see :func:`validate`)."""
    path = Path(path)
    data = read_toml(path)
    return validate(data, plugin_set, base_dir=path.resolve().parent, source=str(path),
                    overrides=list(overrides))
