"""The Weights & Biases observer: ``[output] wandb = true`` (``pip install 'gan-adapt[wandb]'``).

Logs into the project ``output.wandb_project`` with the run folder's name, keeping W&B's files
in ``RUN_DIR/wandb/``: every logged value as ``PHASE/NAME`` against its own step axis
(``search/step``, ``adapt/step``), each sample grid and the target-vs-reference image as
``wandb.Image``, and the resolved recipe as the run's config. W&B's own settings apply:
``WANDB_MODE=offline`` logs locally (``wandb sync RUN_DIR/wandb/offline-run-*`` uploads later),
``WANDB_ENTITY`` picks the team. A resumed run continues the same W&B run (its id is kept in
``RUN_DIR/wandb/gan-adapt-run-id``).

Under ``torchrun`` only rank 0 logs.
"""

from __future__ import annotations

import weakref
from typing import Any

from gan_adapt.plugin_host.markers import hookimpl
from gan_adapt.tracking.run_images import NewImages, images_due

_trackers: dict[int, WandbTracker] = {}


class WandbTracker:
    """Mirrors one run into a W&B run."""

    def __init__(self, run: Any) -> None:
        import secrets

        import wandb

        from gan_adapt.io import atomic_files as files

        root = run.folder.root
        folder = root / "wandb"
        folder.mkdir(exist_ok=True)
        id_file = folder / "gan-adapt-run-id"
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
        files.write_text(id_file, run_id + "\n")
        self.wandb = wandb
        self.run = wandb.init(project=run.validated.recipe.output.wandb_project,
                              name=root.resolve().name, id=run_id, resume="allow",
                              dir=str(root), config=run.validated.raw,
                              settings=wandb.Settings(console="off"))
        for phase in ("search", "adapt"):
            self.run.define_metric(f"{phase}/step")
            self.run.define_metric(f"{phase}/*", step_metric=f"{phase}/step")
        self.run.define_metric("samples", step_metric="adapt/step")
        self.run.define_metric("target_vs_reference", step_metric="adapt/step")
        self.new_images = NewImages(root)

    def log_values(self, phase: str, step: int, values: dict[str, float]) -> None:
        if values:
            self.run.log({f"{phase}/step": step,
                          **{f"{phase}/{name}": value for name, value in values.items()}})

    def log_new_images(self) -> None:
        for image in self.new_images():
            self.run.log({"adapt/step": image.step,
                          image.tag: self.wandb.Image(str(image.path),
                                                      caption=f"{image.tag}, step {image.step}")})

    def close(self) -> None:
        self.run.finish()


@hookimpl
def on_run_start(run: Any) -> None:
    if not run.validated.recipe.output.wandb or not run.folder.writer:
        return
    _trackers[id(run)] = WandbTracker(run)
    weakref.finalize(run, _close, id(run))


@hookimpl
def on_step_end(run: Any, phase: str, step: int, values: dict[str, float]) -> None:
    tracker = _trackers.get(id(run))
    if tracker is None:
        return
    tracker.log_values(phase, step, values)
    if images_due(run, phase, step):
        tracker.log_new_images()


@hookimpl
def on_run_end(run: Any, result: Any) -> None:
    tracker = _trackers.get(id(run))
    if tracker is not None:
        tracker.log_new_images()
        _close(id(run))


def _close(key: int) -> None:
    tracker = _trackers.pop(key, None)
    if tracker is not None:
        tracker.close()
