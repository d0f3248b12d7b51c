"""``gan-adapt translate RUN_DIR photo.png``: a real photo rendered by the adapted generator.

The photo is inverted into the SOURCE generator's latent space by optimisation, then the latent
is rendered by the adapted generator: the paper's real-image translation / attribute-editing
use. The work is :meth:`gan_adapt.api.public.Run.translate` (one implementation for the command line
and Python, see :mod:`gan_adapt.api.inversion`); this command adds the options and writes the sheet
photo | G_s(w) (the reconstruction) | G_t(w) (the translation).
"""

from __future__ import annotations

from pathlib import Path

import click

# torch is imported inside the function: `gan-adapt --help` lists this command without it.


@click.command("translate")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("photo", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Output PNG (default RUN_DIR/translations/<photo>.png).")
@click.option("--steps", type=click.IntRange(1), default=None,
              help="Inversion steps (default 300, as Run.translate).")
@click.option("--lr", type=float, default=None, help="Adam learning rate (default 0.05).")
@click.option("--space", type=click.Choice(["w", "w+"]), default="w+", show_default=True)
@click.option("--lpips", default="recipe", show_default=True,
              help="Perceptual term of the inversion: recipe (the run's lpips term; without "
                   "one, alex if downloaded, else the shipped portraits-clip distance), none "
                   "(pixel MSE only), alex, vgg, squeeze, portraits-clip (shipped, offline).")
@click.option("--clip-weight", type=float, default=0.0, show_default=True,
              help="Weight of a CLIP similarity term (uses the run's `clip` encoder).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--plugins-dir", type=click.Path(file_okay=False), multiple=True,
              help="Also load every .py file of this folder as a plugin (repeatable; a run you "
                   "made here remembers its own).")
@click.option("--allow-changed-plugins", is_flag=True,
              help="Load the run's plugin folders even though their files changed since the "
                   "run (otherwise refused).")
def translate_command(run_dir: str, photo: str, out: str | None, steps: int | None,
                      lr: float | None, space: str, lpips: str, clip_weight: float, device: str,
                      plugins_dir: tuple[str, ...], allow_changed_plugins: bool) -> None:
    """Invert PHOTO into the source generator and render it with RUN_DIR's adapted generator."""
    import torch

    from gan_adapt.plugin import GanAdaptError, get_run_plugins, load_run, resolve_device, save_grid

    run = load_run(run_dir, device=str(resolve_device(device)),
                       plugins=get_run_plugins(run_dir, plugins_dir,
                                               allow_changed=allow_changed_plugins))
    target = Path(out) if out else run.folder / "translations" / f"{Path(photo).stem}.png"
    if out is None and not target.parent.resolve().is_relative_to(run.folder.resolve()):
        raise GanAdaptError(f"{target.parent} leads outside the run folder; give --out")
    translation = run.translate(photo, steps=steps, lr=lr, lpips=lpips, space=space,
                                clip_weight=clip_weight)
    save_grid(torch.cat([translation.image, translation.reconstruction,
                         translation.translated]), target, nrow=3)
    used = translation.distance
    click.echo(f"Wrote {target} (photo | source reconstruction | adapted); perceptual term: "
               f"{used.get('net')} [{used.get('from')}]")
