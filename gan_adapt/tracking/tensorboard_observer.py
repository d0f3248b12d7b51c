"""The TensorBoard observer: ``[output] tensorboard = true`` (or ``gan-adapt run --tensorboard``).

Writes ``RUN_DIR/tensorboard/`` with the ``tensorboard`` package's own writer
(``torch.utils.tensorboard.SummaryWriter``): every logged value as a scalar ``PHASE/NAME`` at
its step, each sample grid (``samples``) and the search's target-vs-reference image at their
steps, and the resolved recipe as text. View it with ``tensorboard --logdir RUN_DIR``.

Under ``torchrun`` only rank 0 logs. A run that stops early (error, Ctrl-C) still closes the
writer when the run's state is released or at exit, so what was logged is on disk.
"""

from __future__ import annotations

import weakref
from typing import Any

from gan_adapt.plugin_host.markers import hookimpl
from gan_adapt.tracking.run_images import NewImages, images_due

#: The open writer of each active run, by ``id(run)``.
_trackers: dict[int, TensorBoardTracker] = {}


class TensorBoardTracker:
    """Mirrors one run into a TensorBoard log folder."""

    def __init__(self, run: Any) -> None:
        from torch.utils.tensorboard import SummaryWriter

        root = run.folder.root
        self.writer = SummaryWriter(log_dir=str(root / "tensorboard"), flush_secs=30)
        self.new_images = NewImages(root)
        # TensorBoard renders text as Markdown: indenting makes the TOML a code block.
        toml = run.folder.recipe.read_text(encoding="utf-8")
        self.writer.add_text("recipe", "\n".join("    " + line for line in toml.splitlines()))

    def log_values(self, phase: str, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(f"{phase}/{name}", value, step)

    def log_new_images(self) -> None:
        for image in self.new_images():
            self.writer.add_image(image.tag, image.pixels(), image.step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _tracker(run: Any) -> TensorBoardTracker | None:
    return _trackers.get(id(run))


@hookimpl
def on_run_start(run: Any) -> None:
    if not run.validated.recipe.output.tensorboard or not run.folder.writer:
        return
    tracker = TensorBoardTracker(run)
    _trackers[id(run)] = tracker
    weakref.finalize(run, _close, id(run))


@hookimpl
def on_step_end(run: Any, phase: str, step: int, values: dict[str, float]) -> None:
    tracker = _tracker(run)
    if tracker is None:
        return
    tracker.log_values(phase, step, values)
    if images_due(run, phase, step):
        tracker.log_new_images()


@hookimpl
def on_run_end(run: Any, result: Any) -> None:
    tracker = _tracker(run)
    if tracker is not None:
        tracker.log_new_images()
        _close(id(run))


def _close(key: int) -> None:
    tracker = _trackers.pop(key, None)
    if tracker is not None:
        tracker.close()
