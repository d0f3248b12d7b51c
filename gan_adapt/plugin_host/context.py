"""What components see: the build context (at construction) and the step (at every step)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import torch

from gan_adapt.errors import GanAdaptError


@dataclass
class TargetData:
    """The target of an adaptation, loaded and resized to the generator's resolution."""

    image: torch.Tensor | None = None  # [1, 3, R, R] in [-1, 1]
    images: torch.Tensor | None = None  # [N, 3, R, R] (few-shot); image is images[:1]
    text: str | None = None
    source_text: str | None = None
    path: str | None = None  # where the image(s) came from, for the record


@dataclass
class BuildContext:
    """Handed to every component factory as ``factory(params, ctx)``."""

    device: torch.device
    base_dir: Path  # recipe-relative paths are resolved against this
    target: TargetData
    generator: Any = None  # the source generator, once built
    discriminator: Any = None  # the source discriminator, once built (if the recipe has one)
    encoders: dict[str, Any] = field(default_factory=dict)

    def resolve_path(self, path: str | Path) -> Path:
        """A recipe path: absolute, ``~``-expanded, or relative to the recipe's folder."""
        path = Path(path).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def encoder(self, name: str) -> Any:
        """The encoder the recipe defines under ``[encoders.<name>]``."""
        return self.encoders[name]


@dataclass
class Step:
    """Everything a loss or search term sees at one step.

    ``fake`` is the image being optimised: G_s(ws) in the search phase (gradients reach the
    latent), G_t(ws) in the adaptation phase (gradients reach G_t). ``source`` is G_s(ws) with
    the SAME noise, computed without autograd. Both are computed once, on first use.
    On a discriminator update (``for_discriminator``), ``fake`` carries no autograd graph.
    """

    phase: str  # "search" or "adapt"
    index: int  # 0-based step number within the phase
    kind: str  # step kind (the schedule's name; "search" in the search phase)
    ws: torch.Tensor  # [N, num_ws, w_dim]
    target: TargetData
    generator: Any  # the network that produces `fake`
    source_generator: Any
    noise: list[torch.Tensor] | None = None  # shared by G_s and G_t; None: the const buffers
    discriminator: Any = None
    w_ref: torch.Tensor | None = None  # the searched latent (adapt phase)
    for_discriminator: bool = False
    encoders: dict[str, Any] = field(default_factory=dict)
    # Multi-process runs (gan_adapt.engine.distributed): this process's part of the batch.
    shard: slice = field(default_factory=lambda: slice(None))
    full_batch: int | None = None  # the batch size before sharding (None: not sharded)
    dist: Any = None

    def per_sample(self, draw: Callable[[int], torch.Tensor]) -> torch.Tensor:
        """Per-sample random values (crop positions, flips): ``draw(n)`` for the WHOLE batch,
        then this process's shard, so a multi-process run draws exactly what one process would."""
        return draw(self.full_batch or self.batch_size)[self.shard]

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """The whole batch of per-sample values ``x`` (``[shard, ...]``), differentiably, for
        terms that couple samples (pairwise similarities); ``x`` itself in a single process."""
        return x if self.dist is None else self.dist.gather(x, self.shard)

    def _synthesise(self, generator: Any) -> torch.Tensor:
        if self.noise is None:
            return generator.synthesis(self.ws, noise_mode="const")
        return generator.synthesis(self.ws, noise=self.noise)

    @cached_property
    def fake(self) -> torch.Tensor:
        """The generated batch being optimised (see class doc)."""
        if self.for_discriminator:
            with torch.no_grad():
                return self._synthesise(self.generator)
        return self._synthesise(self.generator)

    @cached_property
    def source(self) -> torch.Tensor:
        """G_s(ws) with the same noise as ``fake``, without autograd."""
        if self.phase == "search" and not self.for_discriminator:
            return self.fake.detach()
        with torch.no_grad():
            return self._synthesise(self.source_generator)

    @cached_property
    def fake_reference(self) -> torch.Tensor:
        """``G_t(w_ref)`` ``[1, C, R, R]`` with the constant noise, computed once per step:
        the adapted generator's rendering of the searched latent (adapt phase of a recipe with
        a search). Without autograd on a discriminator update, like ``fake``."""
        if self.w_ref is None:
            raise GanAdaptError(f"step {self.index} ({self.phase}) has no searched latent w_ref: "
                                "terms on G_t(w_ref) need the recipe's [search] section")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.for_discriminator):
            return self.generator.synthesis(self.w_ref, noise_mode="const")

    @cached_property
    def source_reference(self) -> torch.Tensor:
        """``G_s(w_ref)`` ``[1, C, R, R]`` with the constant noise, without autograd, computed
        once per step: the source generator's rendering of the searched latent."""
        if self.w_ref is None:
            raise GanAdaptError(f"step {self.index} ({self.phase}) has no searched latent w_ref: "
                                "terms on G_s(w_ref) need the recipe's [search] section")
        with torch.no_grad():
            return self.source_generator.synthesis(self.w_ref, noise_mode="const")

    @property
    def batch_size(self) -> int:
        return self.ws.shape[0]

    # -- per-step memo and batched encoder inputs ------------------------------------------------
    # A term that knows its encoder inputs ahead announces them in ``request_embeddings(step)``
    # (the engine calls that on every term before evaluating any); the first ``embedding`` call
    # of an encoder then embeds everything announced for it in one ``embed_many`` (two forwards:
    # constants without autograd, the rest with it), however many terms share the encoder.
    # The step's own images (``STEP_IMAGES``) have shared keys: terms embed them through
    # ``request_image_embedding`` / ``image_embedding``, so two terms embedding G_t(w) with one
    # encoder share its forward. An ensemble (an encoder with ``members`` and ``join``) is
    # embedded member by member under the same keys, so it shares forwards with terms that use
    # its members directly (directional losses).

    #: The step's images a term may embed by name, and whether their embeddings carry gradients.
    STEP_IMAGES = {"source": False, "fake": True, "source_reference": False,
                   "fake_reference": True}

    def request_image_embedding(self, encoder: Any, image: str) -> None:
        """Announce that ``encoder`` embeds the step's ``image`` (a :attr:`STEP_IMAGES` name)."""
        self.request_embedding(encoder, f"image:{image}", lambda: getattr(self, image),
                               grad=self.STEP_IMAGES[image])

    def image_embedding(self, encoder: Any, image: str) -> torch.Tensor:
        """``[n, D]``: ``encoder``'s embedding of the step's ``image`` (a :attr:`STEP_IMAGES`
        name), shared with every other term of the step that embeds it with the same encoder."""
        return self.embedding(encoder, f"image:{image}", lambda: getattr(self, image),
                              grad=self.STEP_IMAGES[image])

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()`` once per step and key (e.g. a term's random crop boxes, drawn when it
        announces its inputs and used again when it is evaluated)."""
        memo = self.__dict__.setdefault("_memo", {})
        if key not in memo:
            memo[key] = make()
        return memo[key]

    def request_embedding(self, encoder: Any, key: str,
                          images: torch.Tensor | Callable[[], torch.Tensor], grad: bool) -> None:
        """Announce that ``encoder`` will embed ``images`` (``[n, 3, H, W]`` or a function
        returning them, called at the flush) under ``key`` in this step; ``grad=False`` inputs are
        constants (no autograd graph). A key already announced or embedded is left as it is."""
        parts = _ensemble_members(encoder)
        if parts is not None:
            images = _once(images)  # made once for all the members
            for member in parts:
                self.request_embedding(member, key, images, grad)
            return
        pending, done = self._embedding_state(encoder)
        if key not in pending and key not in done:
            pending[key] = (images, grad)

    def embedding(self, encoder: Any, key: str,
                  images: torch.Tensor | Callable[[], torch.Tensor] | None = None,
                  grad: bool = True) -> torch.Tensor:
        """The embedding ``[n, D]`` of ``key``, embedding all of ``encoder``'s announced inputs
        now if it is not there yet (``images``/``grad`` announce it first if needed)."""
        parts = _ensemble_members(encoder)
        if parts is not None:
            images = None if images is None else _once(images)
            return encoder.join([self.embedding(m, key, images, grad) for m in parts])
        pending, done = self._embedding_state(encoder)
        if key not in done:
            if key not in pending:
                if images is None:
                    raise KeyError(f"no encoder input {key!r} was announced in this step")
                pending[key] = (images, grad)
            keys = list(pending)
            groups = [pending[k][0] for k in keys]
            groups = [g() if callable(g) else g for g in groups]
            flags = [pending[k][1] for k in keys]
            pending.clear()
            done.update(zip(keys, encoder.embed_many(groups, flags)))
        return done[key]

    # -- per-step feature maps ----------------------------------------------------------------
    # Terms on an encoder's intermediate features (a ViT's token maps, layer by layer) share
    # them like embeddings: each layer of each (encoder, step image, kind of maps) is computed
    # once per step. Layers announced with ``request_feature_maps`` before the first
    # ``feature_maps`` call of that image are computed together, in one forward; a layer asked
    # for later costs one more forward, for the missing layers only.

    #: False turns the sharing off (every call computes its maps): the benchmark's baseline.
    share_feature_maps = True

    def request_feature_maps(self, encoder: Any, image: str, layers: Iterable[int],
                             kind: str) -> None:
        """Announce that a term will read ``layers`` of ``encoder``'s ``kind`` maps (e.g.
        ``"tokens"``) of the step's ``image`` (a :attr:`STEP_IMAGES` name)."""
        pending, _ = self._feature_state(encoder, image, kind)
        pending.update(layers)

    def feature_maps(self, encoder: Any, image: str, layers: Sequence[int], kind: str,
                     compute: Callable[[torch.Tensor, list[int]], list[torch.Tensor]]
                     ) -> list[torch.Tensor]:
        """``encoder``'s ``kind`` maps of the step's ``image``, one per layer of ``layers``,
        shared by every term of the step that asks for them.

        ``compute(images, layers)`` makes the maps of ``images`` for a list of distinct layers
        (in that order); it runs without autograd for the step's constant images (``source``,
        ``source_reference``), with it for the images being optimised. Two terms that ask for
        the same ``kind`` must compute the same thing: the key says what the maps are.
        """
        grad = self.STEP_IMAGES[image]
        if not self.share_feature_maps:
            return self._compute_maps(image, list(dict.fromkeys(layers)), grad, compute,
                                      as_list=layers)
        pending, done = self._feature_state(encoder, image, kind)
        missing = [layer for layer in dict.fromkeys([*layers, *sorted(pending)])
                   if layer not in done]
        if missing:
            done.update(self._compute_maps(image, missing, grad, compute))
            pending.clear()
        return [done[layer] for layer in layers]

    def _compute_maps(self, image: str, layers: list[int], grad: bool,
                      compute: Callable[[torch.Tensor, list[int]], list[torch.Tensor]],
                      as_list: Sequence[int] | None = None) -> Any:
        with torch.set_grad_enabled(torch.is_grad_enabled() and grad):
            maps = dict(zip(layers, compute(getattr(self, image), layers)))
        return maps if as_list is None else [maps[layer] for layer in as_list]

    def _feature_state(self, encoder: Any, image: str, kind: str
                       ) -> tuple[set[int], dict[int, torch.Tensor]]:
        state = self.__dict__.setdefault("_feature_maps", {})
        entry = state.setdefault((id(encoder), image, kind), (encoder, set(), {}))
        return entry[1], entry[2]

    def _embedding_state(self, encoder: Any) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        state = self.__dict__.setdefault("_embeddings", {})
        entry = state.setdefault(id(encoder), (encoder, {}, {}))
        return entry[1], entry[2]


def _ensemble_members(encoder: Any) -> list[Any] | None:
    """An ensemble's members (it has ``members`` and a ``join`` of their embeddings); None for
    a single encoder."""
    members = getattr(encoder, "members", None)
    if members is None or not callable(getattr(encoder, "join", None)):
        return None
    return list(members)


def _once(images: torch.Tensor | Callable[[], torch.Tensor]
          ) -> torch.Tensor | Callable[[], torch.Tensor]:
    """``images`` itself, or, if it is a function, one that calls it at most once."""
    return cache(images) if callable(images) else images
