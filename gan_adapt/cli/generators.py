"""``gan-adapt sample`` and ``gan-adapt convert`` (added to the CLI by :mod:`.plugin`).

torch is imported inside the commands, so listing commands stays fast.
"""

from __future__ import annotations

import math

import click

from gan_adapt.errors import GanAdaptError


@click.command("sample")
@click.argument("checkpoint")
@click.option("--n", "n", type=click.IntRange(1), default=16, show_default=True,
              help="Number of images.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the latents.")
@click.option("--truncation", type=float, default=1.0, show_default=True,
              help="Truncation psi (1 = none; 0.7 is the usual setting for nicer samples).")
@click.option("--out", type=click.Path(dir_okay=False), default="grid.png", show_default=True,
              help="Output PNG.")
@click.option("--nrow", type=click.IntRange(1), default=None,
              help="Images per row (default: a square-ish grid).")
@click.option("--which", default="g_ema", show_default=True,
              help="Generator in files that hold several: g_ema or g.")
@click.option("--noise-mode", type=click.Choice(["const", "random", "none"]), default="const",
              show_default=True)
@click.option("--class", "class_idx", type=click.IntRange(0), default=None,
              help="Class label of a conditional generator (default: random classes).")
@click.option("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if "
              "available).")
@click.option("--batch", type=click.IntRange(1), default=8, show_default=True,
              help="Images per forward pass.")
def sample(checkpoint: str, n: int, seed: int, truncation: float, out: str, nrow: int | None,
           which: str, noise_mode: str, class_idx: int | None, device: str | None,
           batch: int) -> None:
    """Write a grid of N samples of CHECKPOINT (a path or a model-zoo name) to a PNG."""
    import torch

    from gan_adapt.generators import load
    from gan_adapt.io.images import save_grid
    from gan_adapt.recipe import user_numbers

    seed = user_numbers.seed(seed, "--seed")
    truncation = user_numbers.truncation(truncation, "--truncation")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    G = load(checkpoint, which=which, device=device)
    n = user_numbers.sample_count(n, G.img_resolution, "--n", torch.device(device))
    class_idx = user_numbers.class_index(class_idx, G.c_dim, "--class")
    nrow = min(nrow, n) if nrow else None  # more columns than images would only add blank
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=gen)
    c = None
    if G.c_dim:
        labels = (torch.full((n,), class_idx) if class_idx is not None
                  else torch.randint(G.c_dim, (n,), generator=gen))
        c = torch.nn.functional.one_hot(labels, G.c_dim).float()
    images = []
    with torch.no_grad():
        for i in range(0, n, batch):
            zi = z[i:i + batch].to(device)
            ci = c[i:i + batch].to(device) if c is not None else None
            images.append(G(zi, ci, truncation_psi=truncation, noise_mode=noise_mode).cpu())
    if not all(bool(torch.isfinite(batch_images).all()) for batch_images in images):
        raise GanAdaptError(f"{checkpoint}: the generator produced NaN or infinite pixels "
                            f"(truncation {truncation}); no grid was written. Are its weights "
                            "damaged?")
    path = save_grid(torch.cat(images), out, nrow or math.ceil(math.sqrt(n)))
    click.echo(f"wrote {n} samples ({G.img_resolution}x{G.img_resolution}) to {path}")


@click.command("convert")
@click.argument("src")
@click.argument("dst", type=click.Path())
@click.option("--to", type=click.Choice(["native", "rosinality"]), default=None,
              help="Output layout (default: rosinality for a .pt/.pth DST, else a native "
                   "folder).")
@click.option("--which", default="g_ema", show_default=True,
              help="Generator to convert in files that hold several: g_ema or g.")
@click.option("--no-discriminator", is_flag=True, help="Leave the discriminator out.")
@click.option("--force", is_flag=True,
              help="Overwrite an existing DST (even SRC itself, keeping only what is converted).")
def convert(src: str, dst: str, to: str | None, which: str, no_discriminator: bool,
            force: bool) -> None:
    """Convert checkpoint SRC (rosinality .pt, NVlabs .pkl, gan-adapt folder, or a model-zoo
    name) to DST: a gan-adapt folder or a rosinality .pt."""
    from gan_adapt.generators.conversion import convert as run_convert
    from gan_adapt.generators.conversion import target_format

    fmt = to or target_format(dst)
    path = run_convert(src, dst, to=fmt, which=which, discriminator=not no_discriminator,
                       force=force)
    click.echo(f"wrote {fmt} checkpoint {path}")


COMMANDS = (sample, convert)
