"""The Python API: what the ``gan-adapt`` command line does, as functions for scripts and notebooks.

    import gan_adapt

    recipe = gan_adapt.load_recipe("recipes/smoke.toml", overrides={"adapt.steps": 100})
    result = gan_adapt.run(recipe, out="runs/try")        # a RunResult
    run = gan_adapt.load_run("runs/try")                  # a Run: generators, recipe, metrics
    images = run.sample(8, seed=0, truncation=0.7)        # [8, 3, R, R] in [-1, 1]
    record = gan_adapt.evaluate("runs/try", n=200)        # what eval.json holds

There is one code path: ``gan-adapt run`` and ``gan-adapt eval`` call :func:`run`,
:func:`resume` and :func:`evaluate`. Errors are the CLI's :class:`~gan_adapt.errors.GanAdaptError`
subclasses, with the same messages. Runs and evaluations write the same run folder and files.

Functions that need plugins load them (once per ``plugins_dir``) unless given ``plugins``, a
:class:`~gan_adapt.plugin_host.loading.PluginSet`; a plugin that failed to load is a
``UserWarning``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from gan_adapt.plugin_host.context import TargetData
    from gan_adapt.plugin_host.loading import PluginSet
    from gan_adapt.recipe.schema import Recipe, ValidatedRecipe

__all__ = ["LoadedRecipe", "Run", "RunResult", "Translation", "evaluate", "load_recipe",
           "load_run", "resume", "run"]

#: ``--set`` overrides: ``["adapt.steps=100"]``, or ``{"adapt.steps": 100}`` (values are Python
#: values written as TOML literals).
Overrides = Sequence[str] | Mapping[str, Any]
PathLike = str | Path

_plugin_sets: dict[tuple[str, ...], Any] = {}
#: :meth:`Run.sample` makes its images this many at a time (memory stays bounded for any n).
SAMPLE_BATCH = 16
#: :meth:`Run.translate` converges in hundreds of steps; far more is a typo, not a wish to wait.
MAX_TRANSLATE_STEPS = 100_000


def _plugins(plugins: PluginSet | None, plugins_dir: Sequence[PathLike] | PathLike = ()
             ) -> PluginSet:
    """``plugins`` if given, else the plugin set of ``plugins_dir`` (loaded once per process)."""
    if plugins is not None:
        return plugins
    from gan_adapt.plugin_host.loading import load_plugins

    folders = [plugins_dir] if isinstance(plugins_dir, (str, Path)) else list(plugins_dir)
    key = tuple(str(Path(f).resolve()) for f in folders)
    if key not in _plugin_sets:
        plugin_set = load_plugins(folders)
        for failure in plugin_set.failures:
            warnings.warn(f"plugin {failure.name!r} was not loaded: {failure.error}",
                          stacklevel=3)
        _plugin_sets[key] = plugin_set
    return _plugin_sets[key]


def _override_list(overrides: Overrides | None) -> list[str]:
    """``KEY=VALUE`` strings, as ``--set`` takes them."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        return [overrides]
    if isinstance(overrides, Mapping):
        from gan_adapt.errors import RecipeError
        from gan_adapt.recipe.schema import override_text

        texts, problems = [], []
        for key, value in overrides.items():
            try:
                texts.append(override_text(str(key), value))
            except ValueError as exc:  # the same refusal as a sweep grid's value
                problems.append(f"overrides[{str(key)!r}]: {exc}")
        if problems:
            raise RecipeError(problems, "overrides")
        return texts
    return [str(item) for item in overrides]


# ---------------------------------------------------------------------------------------------
# Recipes


@dataclass(frozen=True, repr=False)
class LoadedRecipe:
    """A recipe file read and validated as ``gan-adapt run`` would run it (nothing built yet)."""

    path: Path
    validated: ValidatedRecipe
    overrides: tuple[str, ...] = ()
    target: str | None = None  # what ``--target`` replaced the recipe's target with

    @property
    def name(self) -> str:
        return self.validated.recipe.name

    @property
    def settings(self) -> Recipe:
        """Every setting, defaults included (the pydantic model of the recipe reference)."""
        return self.validated.recipe

    def to_toml(self) -> str:
        """The resolved recipe, as the run folder's ``recipe.toml`` will hold it."""
        import tomli_w

        return tomli_w.dumps(self.validated.raw)

    def __repr__(self) -> str:
        extra = f", overrides={list(self.overrides)!r}" if self.overrides else ""
        extra += f", target={self.target!r}" if self.target else ""
        return f"LoadedRecipe({self.name!r}, path={str(self.path)!r}{extra})"

    def _repr_html_(self) -> str:
        from gan_adapt.api.display import escape

        return (f"<b>recipe {escape(self.name)}</b> <code>{escape(self.path)}</code>"
                f"<p>{escape(self.settings.description)}</p>"
                f"<pre>{escape(self.to_toml())}</pre>")


def load_recipe(path: PathLike, overrides: Overrides | None = None, target: str | None = None,
                *, plugins: PluginSet | None = None,
                plugins_dir: Sequence[PathLike] | PathLike = ()) -> LoadedRecipe:
    """Read and validate a recipe file, as ``gan-adapt run RECIPE --set ... --target ...`` does.

    ``overrides`` are ``--set`` values; ``target`` replaces the recipe's target with an image
    file, a folder of images or a text. Raises :class:`~gan_adapt.errors.RecipeError` listing
    every problem. Builds no model.
    """
    from gan_adapt.engine.launch import read_recipe

    override_list = _override_list(overrides)
    validated = read_recipe(path, _plugins(plugins, plugins_dir), target=target,
                            overrides=override_list)
    return LoadedRecipe(Path(path), validated, tuple(override_list), target)


# ---------------------------------------------------------------------------------------------
# Runs


@dataclass(repr=False)
class Translation:
    """An image translated into the adapted domain by :meth:`Run.translate`.

    ``reconstruction`` is G_s(w), the source generator's closest image; ``translated`` is
    G_t(w), the same latent through the adapted generator. Images are ``[1, 3, R, R]`` in
    ``[-1, 1]``.
    """

    image: torch.Tensor
    reconstruction: torch.Tensor
    translated: torch.Tensor
    w: torch.Tensor  # [1, num_ws, w_dim]
    distance: dict[str, Any] = field(default_factory=dict)  # the inversion's perceptual term

    def grid(self) -> Image.Image:
        """Input, reconstruction and translation side by side."""
        import torch

        from gan_adapt.api.display import to_pil

        return to_pil(torch.cat([self.image, self.reconstruction, self.translated]))

    def __repr__(self) -> str:
        return f"Translation(image size {tuple(self.image.shape[-2:])})"

    def _repr_html_(self) -> str:
        from gan_adapt.api.display import img_tag, png_bytes, to_pil

        scale = max(1, 128 // self.image.shape[-1])
        return "".join(img_tag(png_bytes(to_pil(x)), caption, caption, scale) for x, caption in
                       ((self.image, "input"), (self.reconstruction, "source G_s(w)"),
                        (self.translated, "adapted G_t(w)")))


class Run:
    """A run folder opened for use: generators, recipe, metrics, sampling and translation.

    Generators are loaded on first use, on ``device``; everything else is read from the folder.
    """

    def __init__(self, folder: PathLike, *, plugins: PluginSet, device: str | torch.device = "cpu"
                 ) -> None:
        import torch

        from gan_adapt.engine.run_folder import RunFolder

        self.folder = Path(folder)
        self.device = torch.device(device)
        self._plugins = plugins
        self._run_folder = RunFolder(self.folder)

    # -- what the folder holds -------------------------------------------------------------
    @cached_property
    def _loaded(self) -> Any:
        from gan_adapt.evaluation.runs import open_finished_run

        return open_finished_run(self.folder, self._plugins, self.device)

    @property
    def source(self) -> Any:
        """G_s: the source generator, rebuilt from the run's recipe (eval mode, no gradients)."""
        return self._loaded.source

    @property
    def adapted(self) -> Any:
        """G_t: the adapted generator the run wrote (the EMA of training; eval, no gradients)."""
        return self._loaded.adapted

    @property
    def generator(self) -> Any:
        """The run's result: the adapted generator (the same object as :attr:`adapted`)."""
        return self.adapted

    @property
    def generators(self) -> dict[str, Any]:
        """``{"source": G_s, "adapted": G_t}``."""
        return {"source": self.source, "adapted": self.adapted}

    @property
    def target(self) -> TargetData:
        """The run's target at the generator's resolution (image(s) and/or text)."""
        return self._loaded.target

    @cached_property
    def recipe(self) -> ValidatedRecipe:
        """The run's resolved recipe (``recipe.toml``, overrides applied), validated."""
        from gan_adapt.evaluation.runs import open_run_recipe

        return open_run_recipe(self.folder, self._plugins)[2]

    @property
    def name(self) -> str:
        return self.folder.resolve().name

    @property
    def status(self) -> str:
        """``done``, ``running``, ``interrupted`` or ``failed`` (from ``run.json``)."""
        return str(self._run_folder.read_meta().get("status", "unknown"))

    @cached_property
    def metrics(self) -> dict[str, float]:
        """Final term values (``metrics.json``: the mean of each term's last logged values)."""
        from gan_adapt.engine.run_records import read_mapping

        return read_mapping(self.folder / "metrics.json", numbers=True) or {}

    @property
    def evaluation(self) -> dict[str, float]:
        """The metrics of ``eval.json`` (empty until the run is evaluated)."""
        from gan_adapt.engine.run_records import read_eval

        return (read_eval(self.folder) or {}).get("metrics", {})

    @cached_property
    def paths(self) -> dict[str, Path]:
        """The outputs of ``result.json`` (generator, samples, metrics, ...) as full paths."""
        from gan_adapt.engine.run_records import read_outputs
        from gan_adapt.io.safe_paths import record_path

        result = self.folder / "result.json"
        outputs = read_outputs(self.folder) if result.exists() or result.is_symlink() else {}
        # an absolute, escaping or linked-out path in the record is not the run's: left out
        paths = {key: record_path(self.folder, relative) for key, relative in outputs.items()}
        return {key: path for key, path in paths.items() if path is not None}

    @cached_property
    def w_ref(self) -> torch.Tensor | None:
        """The latent the search found for the target (``[1, num_ws, w_dim]``), if searched."""
        path = self.paths.get("w_ref")
        return None if path is None else self._run_folder.load_state(path, self.device)

    # -- using the generators --------------------------------------------------------------
    def sample(self, n: int = 8, seed: int = 0, truncation: float | None = None, *,
               generator: str = "adapted") -> torch.Tensor:
        """``n`` images ``[n, 3, R, R]`` in ``[-1, 1]`` from the ``"adapted"`` (or ``"source"``)
        generator. The latents come from ``seed`` alone, so the same seed gives the same latents
        through either generator; ``truncation`` defaults to the recipe's ``output.truncation``.

        ``n`` must be a whole number whose images fit in half the device's memory; they are
        made :data:`SAMPLE_BATCH` at a time. A bad ``n``, ``seed`` or ``truncation`` raises
        :class:`~gan_adapt.recipe.user_numbers.NumberError` (also a ``ValueError``).
        """
        import torch

        from gan_adapt.recipe import user_numbers

        if generator not in ("adapted", "source"):
            raise ValueError(f"generator must be 'adapted' or 'source', got {generator!r}")
        seed = user_numbers.seed(seed)
        if truncation is not None:
            truncation = user_numbers.truncation(truncation)
        G = self.adapted if generator == "adapted" else self.source
        n = user_numbers.sample_count(n, G.img_resolution, "n", self.device)
        psi = self.recipe.recipe.output.truncation if truncation is None else truncation
        z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
        images = None
        with torch.no_grad():
            for first in range(0, n, SAMPLE_BATCH):
                ws = G.mapping(z[first:first + SAMPLE_BATCH].to(self.device),
                               truncation_psi=psi)
                batch = G.synthesis(ws, noise_mode="const").clamp(-1, 1)
                if images is None:  # one output tensor, filled batch by batch
                    images = batch.new_empty((n, *batch.shape[1:]))
                images[first:first + len(batch)] = batch
        return images

    def compare(self, n: int = 8, seed: int = 0, truncation: float | None = None) -> Image.Image:
        """One image: ``n`` source samples (top row) over the same latents adapted (bottom)."""
        import torch

        from gan_adapt.api.display import to_pil

        images = torch.cat([self.sample(n, seed, truncation, generator="source"),
                            self.sample(n, seed, truncation)])
        return to_pil(images, nrow=n)

    def translate(self, image: PathLike | Image.Image | torch.Tensor, *,
                  steps: int | None = None, lr: float | None = None, lpips: str = "recipe",
                  space: str = "w+", clip_weight: float = 0.0) -> Translation:
        """Translate a source-domain ``image`` (a path, a PIL image, or a ``[1, 3, H, W]``
        tensor in ``[-1, 1]``): invert it in G_s (see :mod:`gan_adapt.api.inversion`), then
        synthesise that latent with G_t. ``gan-adapt translate`` calls this.

        ``lpips`` adds a perceptual distance to the inversion's pixel MSE: ``recipe`` (the
        recipe's lpips term; a recipe without one: LPIPS alex if downloaded, else the shipped
        ``portraits-clip`` distance), ``none``, or any ``gan-adapt eval --lpips`` choice;
        ``clip_weight`` adds the recipe's ``clip`` encoder's similarity. ``steps`` and ``lr``
        default to :data:`gan_adapt.api.inversion.DEFAULT_STEPS` and ``DEFAULT_LR``.
        """
        import torch

        from gan_adapt.api.inversion import DEFAULT_LR, DEFAULT_STEPS, invert
        from gan_adapt.recipe import user_numbers

        steps = user_numbers.whole_number(DEFAULT_STEPS if steps is None else steps, "steps", 0,
                                          MAX_TRANSLATE_STEPS)
        lr = user_numbers.finite(DEFAULT_LR if lr is None else lr, "lr", positive=True)
        G_s = self.source
        picture = _image_tensor(image, G_s.img_resolution).to(self.device)
        distance, used = None, {"net": "none", "from": "lpips = none: pixel MSE only"}
        if lpips != "none":
            from gan_adapt.evaluation.metric_models import build_lpips

            built = build_lpips(lpips, self.recipe, G_s.img_resolution, self.device)
            distance, used = built.model, built.info
        clip = None
        if clip_weight > 0:
            clip = self._clip_encoder()
        w = invert(G_s, picture, steps=steps, lr=lr, space=space, distance=distance,
                   clip=clip, clip_weight=clip_weight)
        with torch.no_grad():
            return Translation(picture, G_s.synthesis(w, noise_mode="const").clamp(-1, 1),
                               self.adapted.synthesis(w, noise_mode="const").clamp(-1, 1), w,
                               used)

    def _clip_encoder(self) -> Any:
        """The recipe's encoder named ``clip``, built on this run's device."""
        from gan_adapt.errors import GanAdaptError
        from gan_adapt.plugin_host.context import BuildContext, TargetData

        validated = self.recipe
        if "clip" not in validated.recipe.encoders:
            raise GanAdaptError("clip_weight (--clip-weight) needs an encoder named `clip` in "
                                "the run's recipe")
        ref = validated.recipe.encoders["clip"]
        ctx = BuildContext(device=self.device, base_dir=validated.base_dir, target=TargetData())
        return self._plugins.registry.get("encoder", ref.name).build(
            validated.params["encoders.clip"], ctx)

    def evaluate(self, **settings: Any) -> dict[str, Any]:
        """:func:`evaluate` this run (same keyword arguments), on this run's device."""
        settings.setdefault("device", str(self.device))
        return evaluate(self.folder, plugins=self._plugins, **settings)

    # -- display -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.folder)!r}, status={self._shown_status()!r})"

    def _shown_status(self) -> str:
        """:attr:`status` for display: a damaged run.json shows as "unreadable" (a repr never
        raises; the damage is reported when the folder is used)."""
        from gan_adapt.errors import GanAdaptError

        try:
            return self.status
        except GanAdaptError:
            return "unreadable"

    def _repr_html_(self) -> str:
        """Target and reference, the newest sample grid, metrics: read from the folder only."""
        from gan_adapt.api.display import escape, img_tag, values_table
        from gan_adapt.errors import GanAdaptError

        parts = [f"<b>run {escape(self.name)}</b> ({escape(self._shown_status())}) "
                 f"<code>{escape(self.folder)}</code><br>"]
        from gan_adapt.engine.run_folder import step_files, step_of
        from gan_adapt.io.safe_paths import read_inside

        # read_inside: a link out of the folder or a FIFO is shown as missing, never read
        reference = read_inside(self.folder, self.folder / "search" / "target_vs_reference.png")
        if reference is not None:
            parts.append(img_tag(reference, "target and reference",
                                 "target | reference G_s(w_ref)", scale=3))
        grids = step_files(self.folder / "samples", ".png")  # only the grids the run wrote
        newest = read_inside(self.folder, grids[-1]) if grids else None
        if newest is not None:
            step = step_of(grids[-1], ".png")
            parts.append(img_tag(newest, f"samples at step {step}",
                                 f"step {step}: source (top), adapted (bottom)", scale=2))

        try:
            if self.metrics:
                parts.append("<p>final term values</p>"
                             + values_table(self.metrics, ("term", "value")))
            if self.evaluation:
                parts.append("<p>evaluation (eval.json)</p>" + values_table(self.evaluation))
        except GanAdaptError as exc:  # a damaged record is shown as such, not as a traceback
            parts.append(f"<p>{escape(exc)}</p>")
        return "".join(parts)


class RunResult(Run):
    """What :func:`run` returns: the run folder as a :class:`Run`, plus how the run ended.

    ``status`` is ``"done"`` or ``"interrupted"`` (Ctrl-C: a checkpoint was saved; continue
    with :func:`resume`). The generators of an interrupted run cannot be loaded.
    """

    def __init__(self, folder: PathLike, *, status: str, steps_done: int, plugins: PluginSet,
                 device: str | torch.device = "cpu") -> None:
        super().__init__(folder, plugins=plugins, device=device)
        self._status = status
        self.steps_done = steps_done

    @property
    def status(self) -> str:
        return self._status


def run(recipe: LoadedRecipe | PathLike, *, out: PathLike | None = None,
        overrides: Overrides | None = None, target: str | None = None,
        device: str | None = None, progress: bool | None = None,
        plugins: PluginSet | None = None,
        plugins_dir: Sequence[PathLike] | PathLike = (),
        threads: int | str | None = None) -> RunResult:
    """Run a recipe (a path or a :func:`load_recipe` result) into the run folder ``out``
    (default ``runs/<name>-<timestamp>``), as ``gan-adapt run`` does.

    ``threads``: CPU threads, a number or ``"auto"`` (default: the recipe's ``[run] threads``;
    see :mod:`gan_adapt.recipe.threads`).

    ``overrides`` and ``target`` add to those of a loaded recipe. ``device`` is ``"cpu"``,
    ``"cuda"`` or ``"auto"`` (default: the recipe's). ``progress``: None shows a live bar on a
    terminal and plain lines elsewhere (a notebook), True a live bar, False plain lines; progress
    goes to stderr. Under ``torchrun`` every process calls this; rank 0 writes the folder.
    """
    from gan_adapt.engine.launch import start_new

    plugin_set = _plugins(plugins, plugins_dir)
    if isinstance(recipe, LoadedRecipe):
        if overrides or target is not None:
            recipe = load_recipe(recipe.path, [*recipe.overrides, *_override_list(overrides)],
                                 target if target is not None else recipe.target,
                                 plugins=plugin_set)
    else:
        recipe = load_recipe(recipe, overrides, target, plugins=plugin_set)
    result = start_new(recipe.validated, plugin_set, out=out, target=recipe.target,
                       overrides=list(recipe.overrides), device=device, progress_live=progress,
                       threads=threads)
    return _run_result(result, plugin_set, device)


def resume(folder: PathLike, *, device: str | None = None, progress: bool | None = None,
           allow_output_changes: bool = False, plugins: PluginSet | None = None,
           plugins_dir: Sequence[PathLike] | PathLike = (),
           threads: int | str | None = None) -> RunResult:
    """Continue an interrupted run from its newest checkpoint (``gan-adapt run --resume``).

    The folder must still be the run it was started as (its recipe and target unchanged);
    ``allow_output_changes`` accepts an edited ``[output]`` section, which cannot change results.
    """
    from gan_adapt.engine.launch import start

    plugin_set = _plugins(plugins, plugins_dir)
    result = start(None, plugin_set, resume=folder, device=device, progress_live=progress,
                   allow_output_changes=allow_output_changes, threads=threads)
    return _run_result(result, plugin_set, device)


def _run_result(result: Any, plugin_set: PluginSet, device: str | None) -> RunResult:
    from gan_adapt.engine.build import resolve_device

    return RunResult(result.folder, status=result.status, steps_done=result.steps_done,
                     plugins=plugin_set, device=resolve_device(device or "cpu"))


def load_run(folder: PathLike, *, device: str = "cpu", plugins: PluginSet | None = None,
             plugins_dir: Sequence[PathLike] | PathLike = ()) -> Run:
    """Open a finished run folder: its recipe, both generators (loaded now, on ``device``),
    target, metrics and paths. An unfinished or damaged folder is a clear
    :class:`~gan_adapt.errors.InputError`."""
    from gan_adapt.engine.build import resolve_device

    opened = Run(folder, plugins=_plugins(plugins, plugins_dir), device=resolve_device(device))
    opened.adapted  # noqa: B018 - load now, so that a broken folder fails here
    return opened


def evaluate(folder: PathLike, *, n: int = 1000, seed: int = 0, batch: int = 16,
             truncation: float = 1.0, target_dir: PathLike | None = None,
             lpips: str = "recipe", clip: str = "recipe", fid_features: str = "inception",
             device: str = "auto", out: PathLike | None = None, plugins: PluginSet | None = None,
             plugins_dir: Sequence[PathLike] | PathLike = (),
             transform: str | None = "auto") -> dict[str, Any]:
    """Measure a finished run as ``gan-adapt eval`` does; writes ``eval.json`` (into the run
    folder unless ``out``) and returns its content: ``record["metrics"]`` holds the numbers.

    The settings are those of ``gan-adapt eval`` (see docs/evaluation.md): ``n`` samples from
    ``seed`` in batches of ``batch``; ``lpips`` / ``clip`` name the instruments (``"recipe"``:
    the recipe's own); ``target_dir`` adds FID and KID against real target-domain images;
    ``transform`` names the known transform that made the target (``"auto"``: recognised for
    the shipped targets), which adds the fidelity metrics and ``record["ideal"]``.
    """
    from gan_adapt.engine.build import resolve_device
    from gan_adapt.evaluation.evaluate import EvalSettings, evaluate_run
    from gan_adapt.recipe import user_numbers

    device = resolve_device(device)
    # Evaluation keeps every sample's latent, embeddings and features (tens of kilobytes) in
    # memory: n is bounded as sample()'s is for 32x32 images; the batch, by the generator's
    # resolution (see evaluate_generators).
    settings = EvalSettings(n=user_numbers.sample_count(n, 32, "n", device, minimum=2),
                            seed=user_numbers.seed(seed),
                            batch=user_numbers.whole_number(batch, "batch", 1),
                            truncation=user_numbers.truncation(truncation))
    return evaluate_run(folder, _plugins(plugins, plugins_dir), settings, target_dir=target_dir,
                        lpips=lpips, clip=clip, fid_features=fid_features,
                        device=resolve_device(device), out=out, transform=transform)


# ---------------------------------------------------------------------------------------------
# Helpers


def _image_tensor(image: PathLike | Image.Image | torch.Tensor, size: int) -> torch.Tensor:
    """``[1, 3, size, size]`` in ``[-1, 1]`` from a path, a PIL image or a tensor."""
    import torch

    from gan_adapt.io.images import load_image, square_resize
    from gan_adapt.recipe.user_numbers import NumberError, image_tensor

    if isinstance(image, (str, Path)):
        return load_image(image, size)
    if isinstance(image, torch.Tensor):
        tensor = image_tensor(image.detach().cpu())
        return square_resize(tensor.clamp(-1, 1), size)
    import numpy as np

    if not hasattr(image, "convert"):
        raise NumberError(f"image must be a path, a PIL image or a [1, 3, H, W] tensor, got "
                          f"{type(image).__name__}")
    if min(image.size) < 1:
        raise NumberError(f"image: the image is empty ({image.size[0]}x{image.size[1]} pixels)")
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return square_resize(torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0), size)


# The API is documented, imported and pickled as gan_adapt.api (its package re-exports it).
for _name in __all__:
    globals()[_name].__module__ = "gan_adapt.api"
