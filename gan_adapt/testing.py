"""The plugin author's test kit: tiny models, a ``Step`` builder and contract checks.

Installed with gan-adapt, so a plugin's own tests can use it without copying helpers::

    from gan_adapt.testing import check_encoder, check_term, make_context, make_step

    def test_my_loss_trains_the_generator():
        ctx = make_context()                                # tiny G_s, a target, a tiny CLIP
        term = MyLoss(MyLoss.Params(), ctx)
        value = check_term(term, make_step(ctx))            # 0-dim, finite, gradient reaches G_t
        assert value.item() > 0

    def test_my_recipe_runs(tmp_path):                      # the whole engine, in this process
        result = run_recipe("recipes/my-smoke.toml", plugins=[PACKAGE_ROOT], steps=2,
                            out=tmp_path / "run")
        assert result.status == "done"

Everything runs on the CPU in milliseconds, offline: the generator is
:func:`gan_adapt.generators.tiny` (a random StyleGAN2 of the real architecture), the encoder
:func:`gan_adapt.encoders.tiny_clip` (a random CLIP with a text tower). The checks raise
``AssertionError`` with a message saying what broke, so they read well in pytest; they apply
the same rules the engine enforces at run time (:mod:`gan_adapt.plugin_host.contracts`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from gan_adapt.errors import PluginError
from gan_adapt.plugin_host.context import BuildContext, Step, TargetData

__all__ = ["tiny_generator", "tiny_discriminator", "tiny_encoder", "target_image",
           "make_context", "make_step", "check_term", "check_encoder", "run_recipe"]

RESOLUTION = 32


def tiny_generator(resolution: int = RESOLUTION, seed: int = 0) -> Any:
    """A random StyleGAN2 generator (eval mode, frozen): ``G.synthesis(ws)`` makes
    ``[N, 3, resolution, resolution]`` images in [-1, 1]; ``G.num_ws``, ``G.w_dim``,
    ``G.w_avg`` and ``G.parameter_groups()`` are those of a real one."""
    from gan_adapt.generators import tiny

    G, _ = tiny(resolution, seed=seed)
    return G.requires_grad_(False)


def tiny_discriminator(resolution: int = RESOLUTION, seed: int = 0) -> Any:
    """The random StyleGAN2 discriminator paired with :func:`tiny_generator` (same seed)."""
    from gan_adapt.generators import tiny

    _, D = tiny(resolution, seed=seed)
    return D


def tiny_encoder(seed: int = 0) -> Any:
    """A random tiny CLIP (image and text towers, ``embed_dim`` 32): an ``ImageEncoder``."""
    from gan_adapt.encoders import tiny_clip

    return tiny_clip(seed=seed)


def target_image(resolution: int = RESOLUTION, seed: int = 1) -> torch.Tensor:
    """A smooth random target ``[1, 3, R, R]`` in [-1, 1] (a colour gradient with noise)."""
    gen = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(-1, 1, resolution)
    base = torch.stack([ramp.view(1, -1).expand(resolution, -1),
                        ramp.view(-1, 1).expand(-1, resolution),
                        -ramp.view(1, -1).expand(resolution, -1)])
    noise = 0.2 * torch.randn(3, resolution, resolution, generator=gen)
    return (0.7 * base + noise).clamp(-1, 1).unsqueeze(0)


def make_context(*, generator: Any = None, target: torch.Tensor | None = None,
                 text: str | None = "a pencil sketch", source_text: str | None = "a photo",
                 encoders: dict[str, Any] | None = None, discriminator: Any = None,
                 base_dir: str | Path = ".") -> BuildContext:
    """The ``ctx`` a factory receives (``Term(params, ctx)``), on the CPU.

    Defaults: :func:`tiny_generator`, :func:`target_image` at its resolution, the texts above
    and ``{"clip": tiny_encoder()}`` as the recipe's ``[encoders]``.
    """
    generator = generator if generator is not None else tiny_generator()
    if target is None:
        target = target_image(generator.img_resolution)
    encoders = encoders if encoders is not None else {"clip": tiny_encoder()}
    return BuildContext(device=torch.device("cpu"), base_dir=Path(base_dir),
                        target=TargetData(image=target, images=target, text=text,
                                          source_text=source_text),
                        generator=generator, discriminator=discriminator, encoders=encoders)


def make_step(ctx: BuildContext, *, phase: str = "adapt", batch: int = 2, seed: int = 0,
              w_ref: bool = True, kind: str | None = None) -> Step:
    """A :class:`~gan_adapt.plugin_host.context.Step` like the engine's, from ``ctx``.

    ``phase="adapt"``: ``step.generator`` is a trainable copy of ``ctx.generator`` (G_t),
    ``step.ws`` are ``batch`` random latents, ``step.w_ref`` a latent near ``w_avg`` (unless
    ``w_ref=False``). ``phase="search"``: one latent ``w`` that requires grad (G_s renders it,
    so gradients reach ``step.ws``, as in the latent search). The step's ``trainable``
    attribute lists what the update trains (G_t's parameters, or ``[ws]``).
    """
    G_s = ctx.generator
    gen = torch.Generator().manual_seed(seed)
    if phase == "search":
        ws = G_s.w_avg.detach().clone().view(1, 1, -1).repeat(1, G_s.num_ws, 1)
        ws.requires_grad_(True)
        step = Step(phase="search", index=0, kind="search", ws=ws, target=ctx.target,
                    generator=G_s, source_generator=G_s, encoders=ctx.encoders)
        step.trainable = [ws]  # type: ignore[attr-defined]
        return step
    G_t = copy.deepcopy(G_s).train().requires_grad_(True)
    with torch.no_grad():
        z = torch.randn(batch, G_s.z_dim, generator=gen)
        ws = G_s.mapping(z.to(G_s.w_avg.device))
        reference = None
        if w_ref:
            offset = 0.1 * torch.randn(1, 1, G_s.w_dim, generator=gen)
            reference = G_s.w_avg.view(1, 1, -1) + offset.to(G_s.w_avg.device)
            reference = reference.repeat(1, G_s.num_ws, 1)
    noise = G_s.make_noise(batch, device=ws.device) if hasattr(G_s, "make_noise") else None
    step = Step(phase="adapt", index=0, kind=kind or "random", ws=ws, target=ctx.target,
                generator=G_t, source_generator=G_s, noise=noise,
                discriminator=ctx.discriminator, w_ref=reference, encoders=ctx.encoders)
    step.trainable = [p for p in G_t.parameters() if p.requires_grad]  # type: ignore
    return step


def check_term(term: Any, step: Step, *, has_gradient: bool | None = None) -> torch.Tensor:
    """Evaluate ``term(step)`` and assert the engine's contract; return the value.

    The value must be a finite 0-dim floating tensor (a Python number is accepted, as the
    engine accepts it); unless the term says ``has_gradient = False`` (or you pass
    ``has_gradient=False``), its gradient must reach what the step trains (G_t, or the searched
    latent) and be finite. A term with ``request_embeddings`` announces first, as in a run.
    """
    from gan_adapt.plugin_host import contracts

    name = getattr(term, "__name__", None) or type(term).__name__
    announce = getattr(term, "request_embeddings", None)
    if announce is not None:
        announce(step)
    try:
        value = contracts.term_value(term(step), step.ws.device, lambda: f"term {name}")
    except PluginError as exc:
        raise AssertionError(str(exc)) from None
    assert bool(torch.isfinite(value)), f"term {name} returned a non-finite value: {value}"
    wants = has_gradient if has_gradient is not None else getattr(term, "has_gradient", True)
    if wants:
        reaches = "the latent w" if step.phase == "search" else "G_t's trainable parameters"
        try:
            contracts.check_gradient(_Claims(True), value, step.trainable, reaches,
                                     f"term {name}")
        except PluginError as exc:
            raise AssertionError(str(exc)) from None
    return value


class _Claims:
    def __init__(self, has_gradient: bool) -> None:
        self.has_gradient = has_gradient


def check_encoder(encoder: Any, *, batch: int = 3, resolution: int = RESOLUTION,
                  texts: bool | None = None) -> None:
    """Assert the encoder interface: ``embed_images`` (and ``embed_many``, ``embed_pair``,
    ``embed_patches``, ``embed_text`` when present) return float ``[N, embed_dim]`` rows, one
    per input, finite and unit-length; gradients reach the input images; ``embed_many`` embeds
    each group as ``embed_images`` would. ``texts=None`` checks ``embed_text`` only if it works
    (an image-only encoder raises a GanAdaptError there, as it should)."""
    from gan_adapt.errors import GanAdaptError
    from gan_adapt.plugin_host import contracts

    name = getattr(encoder, "name", None) or type(encoder).__name__
    gen = torch.Generator().manual_seed(0)
    images = (torch.rand(batch, 3, resolution, resolution, generator=gen) * 2 - 1)
    images.requires_grad_(True)
    try:
        checked = contracts.guard_encoder(_Facade(encoder), f"encoder {name}")
        with contracts.checking():
            out = checked.embed_images(images)
            (grad,) = torch.autograd.grad(out.sum(), images, allow_unused=True)
            assert grad is not None and bool(torch.isfinite(grad).all()) and \
                bool(grad.abs().sum() > 0), \
                f"encoder {name}: no finite gradient reaches the input images"
            if hasattr(encoder, "embed_many"):
                groups = checked.embed_many([images[:1].detach(), images[1:].detach()],
                                            [False, True])
                together = torch.cat([g.detach() for g in groups])
                assert torch.allclose(together, out.detach(), atol=1e-4), \
                    f"encoder {name}: embed_many embeds differently from embed_images"
            if hasattr(encoder, "embed_pair"):
                checked.embed_pair(images[:1].detach(), images[1:].detach())
            if hasattr(encoder, "embed_patches"):
                side = max(1, resolution // 2)
                boxes = torch.tensor([[0, 0, side, side], [side // 2, side // 2, side, side]])
                checked.embed_patches(images.detach(), boxes)
            if texts is not False and hasattr(encoder, "embed_text"):
                try:
                    checked.embed_text(["a photo", "a sketch"])
                except GanAdaptError:
                    assert not texts, f"encoder {name}: embed_text raised, but texts=True"
    except PluginError as exc:
        raise AssertionError(str(exc)) from None


class _Facade:
    """The encoder's methods and attributes, with checking wrappers set on this object rather
    than on the encoder under test (which stays untouched)."""

    def __init__(self, encoder: Any) -> None:
        object.__setattr__(self, "_encoder", encoder)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)


def run_recipe(recipe: str | Path, *, plugins: Iterable[Any] | Mapping[str, Any] = (),
               steps: int | None = 2, out: str | Path | None = None,
               overrides: Iterable[str] = (), device: str | None = "cpu",
               check: bool = True) -> Any:
    """Run ``recipe`` in this process with the given plugins, for a few steps; return the
    :class:`gan_adapt.api.public.RunResult` (``status``, ``metrics``, ``paths``, the generators).

    ``plugins`` are plugin folders (a plugin package with a ``pyproject.toml``, whose
    ``gan_adapt`` entry points load without installing it, or a folder of loose ``*.py``
    plugins) and plugin objects (modules with ``@hookimpl`` functions, named by their
    ``__name__``); a mapping ``{name: module}`` names them, as a recipe's ``requires`` does.
    Installed plugins are not loaded: the run sees gan-adapt's own components and these.
    ``steps`` shortens the search (when the recipe has one) and the adaptation; ``out`` is the
    run folder (default: a new temporary folder). ``check`` runs the plugin contract checks of
    ``gan-adapt run --check-plugins`` on every term and encoder call.
    """
    import tempfile

    from gan_adapt.api.public import run
    from gan_adapt.plugin_host.contracts import checking
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.recipe.schema import read_toml

    named = plugins.items() if isinstance(plugins, Mapping) else \
        [(None, plugin) for plugin in plugins]
    folders = [Path(p) for _, p in named if isinstance(p, (str, Path))]
    plugin_set = load_plugins(folders, entry_points=False)
    for name, plugin in named:
        if not isinstance(plugin, (str, Path)):
            name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
            plugin_set.add_module(plugin, name, getattr(plugin, "__version__", "-"), "explicit")
    if plugin_set.failures:
        failure = plugin_set.failures[0]
        raise PluginError(f"plugin {failure.name!r} did not load: {failure.error}")
    settings = list(overrides)
    if steps is not None:
        settings.append(f"adapt.steps={steps}")
        if read_toml(recipe).get("search") is not None:
            settings.append(f"search.steps={steps}")
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="gan-adapt-run-")) / "run"
    with checking(check):
        return run(recipe, out=out, overrides=settings, device=device, progress=False,
                   plugins=plugin_set)
