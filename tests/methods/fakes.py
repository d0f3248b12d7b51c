"""Small stand-ins with hand-checkable outputs for the method-term tests."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from gan_adapt.plugin_host.context import Step, TargetData


def colour_images(*rows: Sequence[float]) -> torch.Tensor:
    """``[N, 3, 2, 2]`` images, each a constant colour."""
    colours = torch.tensor(rows, dtype=torch.float32)
    return colours.view(-1, 3, 1, 1).expand(-1, 3, 2, 2).clone()


class ColourEncoder:
    """Embeds an image as its unit mean colour, a text through a lookup table.

    ``scale`` multiplies each colour channel first, so that two such encoders in an ensemble
    disagree in a hand-computable way.
    """

    def __init__(self, texts: dict[str, Sequence[float]] | None = None,
                 scale: Sequence[float] = (1.0, 1.0, 1.0)) -> None:
        self.texts = texts or {}
        self.scale = torch.tensor(scale).view(1, 3)
        self.pair_calls = 0

    def embed_images(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x.mean((2, 3)) * self.scale, dim=1)

    def embed_pair(self, source: torch.Tensor, target: torch.Tensor):
        self.pair_calls += 1
        with torch.no_grad():
            src = self.embed_images(source)
        return src, self.embed_images(target)

    def embed_many(self, groups: Sequence[torch.Tensor], grad: Sequence[bool]):
        """What the engine's step calls to embed its announced inputs."""
        out = []
        for images, wants_grad in zip(groups, grad):
            with torch.set_grad_enabled(wants_grad and torch.is_grad_enabled()):
                out.append(self.embed_images(images))
        return out

    def embed_text(self, texts: Sequence[str]) -> torch.Tensor:
        return F.normalize(torch.tensor([self.texts[t] for t in texts], dtype=torch.float32),
                           dim=1)


def engine_step(*, source: torch.Tensor | None = None, fake: torch.Tensor | None = None,
                fake_reference: torch.Tensor | None = None, w_ref: torch.Tensor | None = None,
                source_generator=None) -> Step:
    """A real engine :class:`Step` (with its shared encoder batches) whose images are given
    instead of rendered."""
    images = {"source": source, "fake": fake, "fake_reference": fake_reference}
    n = next((x.shape[0] for x in (source, fake) if x is not None), 1)
    step = Step(phase="adapt", index=0, kind="random", ws=torch.zeros(n, 1, 1),
                target=TargetData(), generator=None, source_generator=source_generator,
                w_ref=w_ref)
    for name, image in images.items():
        if image is not None:
            step.__dict__[name] = image  # what the cached property would have computed
    return step


class Ensemble:
    """What the directional terms read from a CLIP ensemble: ``members`` and ``weights``."""

    def __init__(self, members: list, weights: tuple[float, ...]) -> None:
        self.members, self.weights = members, weights


def unit3(*v: float) -> list[float]:
    """A 3-vector scaled to length one, by hand."""
    norm = sum(x * x for x in v) ** 0.5
    return [x / norm for x in v]


def cos3(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine of two 3-vectors, by hand."""
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5)
