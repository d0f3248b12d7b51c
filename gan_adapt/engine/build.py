"""Construct a run's components from a validated recipe.

Everything that can fail because of the user's inputs (the target image, checkpoints, weights)
fails here, before the run folder is created: a run that cannot start leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gan_adapt.engine.memory_advice import out_of_memory
from gan_adapt.errors import GanAdaptError, PluginError
from gan_adapt.plugin_host import contracts
from gan_adapt.plugin_host.context import BuildContext, TargetData
from gan_adapt.recipe.schema import Term, ValidatedRecipe


@dataclass
class ActiveTerm:
    """A built loss/search term together with its recipe entry (weight and schedule)."""

    label: str  # key in logs and metrics
    path: str  # TOML path, for error messages
    spec: Term
    impl: Any
    kind: str = "loss"  # the component kind: "loss" or "search_objective"
    source: str = "?"  # the plugin that registered the component

    def __call__(self, step: Any) -> Any:
        """The term's value at ``step``; a failure inside the component names it (see below),
        and so does a value that breaks the contract (see
        :mod:`gan_adapt.plugin_host.contracts`)."""
        return contracts.term_value(self._guarded(self.impl, step, ""), step.ws.device,
                                    lambda: self._where(step, ""))

    def discriminator_loss(self, step: Any) -> Any:
        """The adversarial term's discriminator loss at ``step``, checked like above."""
        part = " (its discriminator loss)"
        return contracts.term_value(self._guarded(self.impl.discriminator_loss, step, part),
                                    step.ws.device, lambda: self._where(step, part))

    def select_parameters(self, step: Any) -> Any:
        """The generator parameters the term lets this update train (``None``: no restriction,
        also for a term without ``select_parameters``), failures named like above."""
        select = getattr(self.impl, "select_parameters", None)
        if select is None:
            return None
        return self._guarded(select, step, " (its select_parameters)")

    def request_embeddings(self, step: Any) -> None:
        """Let the term announce its encoder inputs of ``step`` (when it has
        ``request_embeddings``), failures named like above."""
        announce = getattr(self.impl, "request_embeddings", None)
        if announce is not None:
            self._guarded(announce, step, " (its request_embeddings)")

    def describe(self) -> str:
        """``label (path, kind 'name' from plugin 'source')``, for messages about several terms."""
        return (f"{self.label} ({self.path}, {self.kind} {self.spec.name!r} from plugin "
                f"{self.source!r})")

    def _guarded(self, method: Any, step: Any, part: str) -> Any:
        """``method(step)``, with a failure named as :meth:`_failure` says."""
        try:
            return method(step)
        except GanAdaptError as exc:
            exc.add_note(f"(raised by {self._where(step, part)})")
            raise
        except Exception as exc:
            raise (out_of_memory(exc, self._where(step, part))
                   or self._failure(exc, step, part)) from exc

    def _where(self, step: Any, part: str) -> str:
        return (f"{self.path}{part}, {self.kind} {self.spec.name!r} from plugin "
                f"{self.source!r}, at {step.phase} step {step.index}")

    def _failure(self, exc: Exception, step: Any, part: str) -> PluginError:
        """A component failed with something other than a user error (a bug, a CUDA error):
        say which term, component and plugin, and at which step. A component's own
        GanAdaptError keeps its type and message and only gains that as a note. The cause keeps
        the traceback, which the CLI prints with GAN_ADAPT_DEBUG=1."""
        return PluginError(f"{self._where(step, part)} failed: {type(exc).__name__}: {exc}. "
                           "The run stopped. Set GAN_ADAPT_DEBUG=1 to see the traceback.")

    def applies(self, kind: str, index: int) -> bool:
        """Whether the term contributes at step ``index`` of kind ``kind``."""
        from gan_adapt.recipe.schedule import term_applies

        return term_applies(self.spec, kind, index)

    @property
    def is_adversarial(self) -> bool:
        return hasattr(self.impl, "discriminator_loss")


@dataclass
class Components:
    """Everything a run is built from."""

    ctx: BuildContext
    generator: Any
    discriminator: Any
    encoders: dict[str, Any]
    search_terms: list[ActiveTerm] = field(default_factory=list)
    losses: list[ActiveTerm] = field(default_factory=list)


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cpu``, ``cuda`` or ``cuda:N`` as named.

    A device this machine does not have (``cuda`` without a GPU, ``cuda:3`` on a two-GPU
    machine, a resumed GPU run on a CPU machine) or a name torch does not know is a user error.
    """
    text = str(name).strip()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise GanAdaptError(f"unknown device {text[:40]!r}; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise GanAdaptError(f"device {text!r} was asked for, but torch sees no CUDA GPU "
                                "(use --device cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise GanAdaptError(f"device {text!r} was asked for, but torch sees only "
                                f"{torch.cuda.device_count()} CUDA GPU(s)")
    return device


def load_target(validated: ValidatedRecipe, resolution: int) -> TargetData:
    """Load the recipe's target at the generator's resolution."""
    from gan_adapt.io.images import load_image, load_image_folder

    spec = validated.recipe.target
    base = validated.base_dir
    data = TargetData(text=spec.text, source_text=spec.source_text)
    if spec.image:
        path = (base / Path(spec.image).expanduser())
        data.image = load_image(path, resolution)
        data.images, data.path = data.image, str(path)
    elif spec.images:
        path = base / Path(spec.images).expanduser()
        data.images = load_image_folder(path, resolution)
        data.image, data.path = data.images[:1], str(path)
    return data


def _build(component: Any, params: Any, ctx: BuildContext, path: str) -> Any:
    """Call a factory, naming the plugin when it fails with something other than a user error."""
    try:
        return component.build(params, ctx)
    except GanAdaptError as exc:
        if not str(exc).startswith(path):
            exc.add_note(f"(raised while building {path}: {component.kind} {component.name!r} "
                         f"from plugin {component.source!r})")
        raise
    except Exception as exc:
        raise PluginError(f"{path}: component {component.kind} {component.name!r} from plugin "
                          f"{component.source!r} failed to build: {type(exc).__name__}: {exc}"
                          ) from exc


def _labels(terms: list[Term]) -> list[str]:
    """Unique log labels: the term's name, numbered when a name repeats."""
    counts: dict[str, int] = {}
    labels = []
    for term in terms:
        counts[term.name] = counts.get(term.name, 0) + 1
        labels.append(term.name if counts[term.name] == 1 else f"{term.name}#{counts[term.name]}")
    return labels


def seed_everything(seed: int) -> None:
    """Seed every RNG a run draws from (torch CPU and CUDA, Python's, NumPy's)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_components(validated: ValidatedRecipe, plugin_set: Any,
                     device: torch.device) -> Components:
    """Build generator, discriminator, encoders and terms, in that order.

    The global RNGs are seeded first, so random initialisations (a patch head, a random-weight test
    encoder) are identical on every build of the same recipe, resumes included.
    """
    recipe = validated.recipe
    registry = plugin_set.registry
    seed_everything(recipe.seed)
    ctx = BuildContext(device=device, base_dir=validated.base_dir, target=TargetData())

    generator = _build(registry.get("generator", recipe.generator.name),
                       validated.params["generator"], ctx, "generator")
    generator = generator.to(device).eval().requires_grad_(False)
    ctx.generator = generator
    ctx.target = load_target(validated, generator.img_resolution)
    for name in ("image", "images"):
        value = getattr(ctx.target, name)
        if value is not None:
            setattr(ctx.target, name, value.to(device))

    discriminator = None
    if recipe.discriminator is not None:
        discriminator = _build(registry.get("discriminator", recipe.discriminator.name),
                               validated.params["discriminator"], ctx, "discriminator")
        discriminator = discriminator.to(device)
        ctx.discriminator = discriminator
        _check_same_resolution(generator, discriminator)

    for key, ref in recipe.encoders.items():
        path = f"encoders.{key}"
        component = registry.get("encoder", ref.name)
        ctx.encoders[key] = contracts.guard_encoder(
            _build(component, validated.params[path], ctx, path),
            f"{path}: encoder {ref.name!r} from plugin {component.source!r}")

    components = Components(ctx, generator, discriminator, ctx.encoders)
    if recipe.search is not None:
        for i, (term, label) in enumerate(zip(recipe.search.objective,
                                              _labels(recipe.search.objective))):
            path = f"search.objective[{i}]"
            impl = _build(registry.get("search_objective", term.name), validated.params[path],
                          ctx, path)
            components.search_terms.append(ActiveTerm(
                label, path, term, _to(impl, device), "search_objective",
                registry.get("search_objective", term.name).source))
    for i, (term, label) in enumerate(zip(recipe.adapt.losses, _labels(recipe.adapt.losses))):
        path = f"adapt.losses[{i}]"
        impl = _build(registry.get("loss", term.name), validated.params[path], ctx, path)
        components.losses.append(ActiveTerm(label, path, term, _to(impl, device), "loss",
                                            registry.get("loss", term.name).source))
    return components


def _check_same_resolution(generator: Any, discriminator: Any) -> None:
    """A discriminator judges images of one size: it must be the generator's.

    (A 64-px D next to a 32-px G is the typical mix-up of two checkpoints of one family.)
    """
    g_res = getattr(generator, "img_resolution", None)
    d_res = getattr(discriminator, "img_resolution", None)
    if g_res is not None and d_res is not None and g_res != d_res:
        from gan_adapt.errors import CheckpointError

        raise CheckpointError(
            f"discriminator: its checkpoint holds a discriminator for {d_res}x{d_res} images, "
            f"but the generator makes {g_res}x{g_res} images. Use the discriminator of the same "
            "network as the generator (usually the same checkpoint file).")


def _to(impl: Any, device: torch.device) -> Any:
    """Move a term that is an nn.Module (it may own trainable parts) to the device."""
    return impl.to(device) if isinstance(impl, torch.nn.Module) else impl
