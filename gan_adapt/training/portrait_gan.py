"""Train the shipped source generator, ``portraits-stylegan2-32``, from one command.

    python -m gan_adapt.training.portrait_gan --work runs/portrait-gan --export OUT

trains a StyleGAN2 on the procedural portraits (:mod:`gan_adapt.synthetic_data.portraits`) with the
project's trainer, checkpointing every 250 steps; run the same command again after an
interruption and it continues exactly where it stopped (same ``--threads``). At the end it
writes a native checkpoint folder (EMA generator + discriminator, training settings in its
metadata) to ``--export``, the training log and a sample sheet beside it.

Why 32 px: the generator is the source of the offline demo (about 5 minutes on 2 cores) and
of the quality benchmark (dozens of adaptation runs), and every adaptation step costs about
four times as much at 64 px. At 32 px the trainer also reaches a usable generator within the
90-minute budget on 2 cores. ``--quick`` runs a few steps of a tiny network (for the tests).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from gan_adapt.synthetic_data.portraits import PortraitStream
from gan_adapt.training.script_args import parse_training_args
from gan_adapt.training.trainer import TrainConfig, save_pretrained, train

NAME = "portraits-stylegan2-32"


def portrait_config() -> TrainConfig:
    """The settings the shipped generator was trained with."""
    return TrainConfig(resolution=32, channels={4: 256, 8: 128, 16: 64, 32: 32}, w_dim=128,
                       mapping_layers=4, batch=16, steps=10000, lr=0.002, r1_gamma=0.05,
                       r1_every=16, mixing=0.0, ema_images=5000, data_seed=0, seed=0,
                       sample_every=500, log_every=50, checkpoint_every=250)


def quick_config() -> TrainConfig:
    """A tiny network and a few steps: exercises every code path in seconds."""
    return TrainConfig(resolution=8, channels={4: 8, 8: 8}, w_dim=8, mapping_layers=1, batch=4,
                       steps=6, r1_every=2, sample_every=3, log_every=2, checkpoint_every=3,
                       ema_images=16)


def sample_sheet(generator: torch.nn.Module, path: Path, n: int = 64, seed: int = 0,
                 upscale: int = 2) -> Path:
    """An 8-column grid of ``n`` samples (truncation 1, fixed noise), nearest-upscaled."""
    from gan_adapt.io.images import save_grid

    z = torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        images = generator(z, noise_mode="const") if _takes_noise_mode(generator) \
            else generator(z)
    images = torch.nn.functional.interpolate(images.clamp(-1, 1), scale_factor=upscale,
                                             mode="nearest")
    return save_grid(images, path, nrow=8)


def _takes_noise_mode(generator: torch.nn.Module) -> bool:
    import inspect

    return "noise_mode" in inspect.signature(generator.forward).parameters


def main(argv: list[str] | None = None) -> int:
    args = parse_training_args(__doc__.split("\n\n")[0], argv)
    config = quick_config() if args.quick else portrait_config()
    if args.steps is not None:
        config.steps = args.steps

    def report(record: dict) -> None:
        print(json.dumps(record), flush=True)

    started = time.time()
    result = train(config, PortraitStream(config.resolution, seed=config.data_seed),
                   out=args.work, report=report, resume=True)
    print(f"trained {result.steps} steps ({result.images_seen} images) in "
          f"{result.seconds / 60:.1f} min wall, {result.cpu_seconds / 60:.1f} min CPU "
          f"({time.time() - started:.0f} s in this process)", flush=True)
    if args.export is not None:
        folder = save_pretrained(result, config, args.export, extra={
            "name": NAME if not args.quick else "quick",
            "data": "gan_adapt.synthetic_data.portraits",
            "threads": torch.get_num_threads()})
        sample_sheet(result.generator, args.export.parent / f"{args.export.name}-samples.png")
        (args.export.parent / f"{args.export.name}-log.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in result.log))
        print(f"exported {folder}", flush=True)
        if args.ship:
            ship(folder, result.log)
    return 0


def ship(folder: Path, log: list[dict]) -> None:
    """Install ``folder`` as the shipped ``portraits-stylegan2-32`` and write its training log
    and sample sheet into the documentation's assets."""
    import shutil

    from gan_adapt.weights import shipped

    target = shipped.record(
        NAME, "generator", folder,
        description="StyleGAN2 (G_ema + D), 32 px, trained on the procedural portraits",
        command="python -m gan_adapt.training.portrait_gan --work WORK --threads 1 "
                "--export OUT --ship")
    docs = Path(__file__).resolve().parents[2] / "docs" / "assets"
    docs.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder.parent / f"{folder.name}-samples.png", docs / f"{NAME}-samples.png")
    (docs / f"{NAME}-log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    print(f"shipped {target}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
