"""The images a run writes into its folder, found as they appear, for experiment trackers.

The engine writes ``search/target_vs_reference.png`` after the latent search and
``samples/step-NNNNNN.png`` at ``step 0`` and every ``output.sample_every`` adaptation steps
(the grid of step N is written right after ``on_step_end`` of step index N - 1). A tracker asks
for new images at the next step end and at the run's end, and logs each one once, at the step
in its name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunImage:
    """One image file of a run: its tracker tag, its step and its path."""

    tag: str  # "samples" or "target_vs_reference"
    step: int
    path: Path

    def pixels(self) -> Any:
        """The image as an ``[H, W, 3]`` uint8 numpy array."""
        import numpy as np
        from PIL import Image

        with Image.open(self.path) as image:
            return np.asarray(image.convert("RGB"))


@dataclass
class NewImages:
    """Yields each image of the run folder ``root`` once, oldest step first."""

    root: Path
    seen: set[Path] = field(default_factory=set)

    def __call__(self) -> Iterator[RunImage]:
        found = [RunImage("target_vs_reference", 0,
                          self.root / "search" / "target_vs_reference.png")]
        # Only the grids the run wrote (a user's step-final.png is not one), by step.
        # imported here: gan_adapt.engine imports torch, and this observer module is loaded by
        # every command (`gan-adapt validate` must not import torch)
        from gan_adapt.engine.run_folder import step_files, step_of
        from gan_adapt.io.safe_paths import regular_inside

        found += [RunImage("samples", step_of(path, ".png"), path)
                  for path in step_files(self.root / "samples", ".png")]
        for image in found:
            if image.path not in self.seen and regular_inside(self.root, image.path):
                self.seen.add(image.path)
                yield image


def images_due(run: Any, phase: str, step: int) -> bool:
    """Whether a sample grid may have appeared since the previous step end: the first adapt
    step (step 0's grid and the search's reference image) and the step after each grid."""
    return phase == "adapt" and step % run.validated.recipe.output.sample_every == 0
