"""The benchmark's independent evaluator: a shipped CNN that no recipe can train against.

``portraits-evaluator`` (trained by :mod:`gan_adapt.training.portrait_evaluator`) is a small
convolutional network with one classification head per portrait attribute. It is not an
encoder of the registry, so no recipe term can name it; the benchmark scores fidelity,
diversity and attribute preservation with it, and keeps the portraits-CLIP figures beside them
as a second opinion.

* :meth:`Evaluator.distance` is an LPIPS-style distance on its four stages' activations: each
  activation is unit-normalised over channels, the squared difference is summed over channels,
  averaged over positions, and the four stages are averaged (no learned linear weights: the
  stages count equally). 0 for equal images; about 0.5-1 between unrelated portraits.
* :meth:`Evaluator.attributes` reads each attribute's most likely value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_adapt.errors import CheckpointError

NAME = "portraits-evaluator"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class Evaluator:
    """A loaded evaluator: the network and where its weights came from."""

    model: torch.nn.Module
    name: str
    sha256: str | None  # of the weights file; None for a model built in memory
    resolution: int
    shipped: bool = False  # loaded by name from gan_adapt/assets (sha256-checked)

    def _prepare(self, images: Tensor) -> Tensor:
        if images.shape[-1] != self.resolution or images.shape[-2] != self.resolution:
            images = F.interpolate(images, size=(self.resolution, self.resolution),
                                   mode="bilinear", antialias=True, align_corners=False)
        return images.clamp(-1, 1)

    @torch.no_grad()
    def features(self, images: Tensor) -> list[Tensor]:
        """The four stages' activations for images ``[N, 3, H, W]`` in [-1, 1]."""
        return self.model.stages(self._prepare(images.float()))

    @torch.no_grad()
    def distance(self, x: Tensor, y: Tensor) -> Tensor:
        """The LPIPS-style distance ``[N]`` between paired images (module docstring)."""
        total = torch.zeros(x.shape[0])
        stages = list(zip(self.features(x), self.features(y)))
        for fx, fy in stages:
            fx = fx / (fx.norm(dim=1, keepdim=True) + 1e-10)
            fy = fy / (fy.norm(dim=1, keepdim=True) + 1e-10)
            total += (fx - fy).square().sum(dim=1).mean(dim=(1, 2)).cpu()
        return total / len(stages)

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        """A pair distance (``metrics.PairDistance``): ``distance(x, y)``."""
        return self.distance(x, y)

    @torch.no_grad()
    def attributes(self, images: Tensor) -> dict[str, Tensor]:
        """Each attribute's predicted value index ``[N]``."""
        logits = self.model(self._prepare(images.float()))
        return {name: values.argmax(dim=1).cpu() for name, values in logits.items()}

    def provenance(self) -> str:
        """One line: what the weights are."""
        if self.sha256 is None:
            return f"{self.name} (built in memory, not trained weights from a file)"
        origin = "shipped" if self.shipped else "from a folder"
        return f"{self.name} ({origin}, sha256 {self.sha256})"


def from_folder(folder: str | Path, name: str | None = None) -> Evaluator:
    """An evaluator from an exported folder (``config.json`` + ``model.safetensors``)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from gan_adapt.training.portrait_evaluator import PortraitEvaluator

    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        model = PortraitEvaluator(list(config["widths"]), dict(config["heads"]))
        model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        raise CheckpointError(f"cannot load the evaluator from {folder}: "
                              f"{type(exc).__name__}: {exc}") from None
    from gan_adapt.weights.shipped import _sha256

    return Evaluator(model.eval().requires_grad_(False), name or config.get("name", folder.name),
                     _sha256(folder / WEIGHTS_FILE), int(config["resolution"]))


def load_evaluator(name: str = NAME) -> Evaluator:
    """The shipped evaluator ``name``, after its sha256 check (:mod:`gan_adapt.weights.shipped`)."""
    from gan_adapt.weights import shipped

    entry = shipped.lookup(name)
    if entry is None or entry.get("kind") != "evaluator":
        raise CheckpointError(f"{name!r} is not a shipped evaluator; shipped evaluators: "
                              f"{', '.join(shipped.names('evaluator')) or 'none'}")
    evaluator = from_folder(shipped.path(name), name)
    evaluator.shipped = True
    return evaluator
