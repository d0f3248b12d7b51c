"""``gan-adapt translate RUN_DIR photo.png``: a real photo rendered by the adapted generator.

The photo is inverted into the SOURCE generator's latent space by optimisation (LPIPS + MSE,
optionally a CLIP term), then the latent is rendered by the adapted generator: the paper's
real-image translation / attribute-editing use. The output sheet shows
photo | G_s(w) (the reconstruction) | G_t(w) (the translation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

# torch is imported inside the functions: `gan-adapt --help` lists this command without it.


def invert(G: Any, image: torch.Tensor, *, steps: int, lr: float, space: str,
           lpips: Any, clip: Any = None, clip_weight: float = 0.0,
           l2_weight: float = 0.0) -> torch.Tensor:
    """Latent ``[1, num_ws, w_dim]`` whose G(w) matches ``image`` ([1, 3, R, R] in [-1, 1])."""
    import torch

    w_avg = G.w_avg.detach()
    w = w_avg.clone().unsqueeze(0)
    if space == "w+":
        w = w.unsqueeze(1).repeat(1, G.num_ws, 1)
    w.requires_grad_(True)
    optimizer = torch.optim.Adam([w], lr=lr)
    target_embedding = None
    if clip is not None and clip_weight > 0:
        with torch.no_grad():
            target_embedding = clip.embed_images(image)
    for _ in range(steps):
        ws = w.unsqueeze(1).expand(-1, G.num_ws, -1) if w.dim() == 2 else w
        fake = G.synthesis(ws, noise_mode="const")
        loss = lpips(fake, image).mean() + torch.mean((fake - image) ** 2)
        if target_embedding is not None:
            loss = loss + clip_weight * (1 - clip.embed_images(fake) @ target_embedding.t()).mean()
        if l2_weight > 0:
            loss = loss + l2_weight * torch.mean((ws - w_avg) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    w = w.detach()
    return w.unsqueeze(1).expand(-1, G.num_ws, -1) if w.dim() == 2 else w


@click.command("translate")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("photo", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Output PNG (default RUN_DIR/translations/<photo>.png).")
@click.option("--steps", type=click.IntRange(1), default=500, show_default=True,
              help="Inversion steps.")
@click.option("--lr", type=float, default=0.05, show_default=True, help="Adam learning rate.")
@click.option("--space", type=click.Choice(["w", "w+"]), default="w+", show_default=True)
@click.option("--clip-weight", type=float, default=0.0, show_default=True,
              help="Weight of a CLIP similarity term (uses the run's `clip` encoder).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--plugins-dir", type=click.Path(file_okay=False), multiple=True,
              help="Also load every .py file of this folder as a plugin (repeatable; a run you "
                   "made here remembers its own).")
def translate_command(run_dir: str, photo: str, out: str | None, steps: int, lr: float,
                      space: str, clip_weight: float, device: str,
                      plugins_dir: tuple[str, ...]) -> None:
    """Invert PHOTO into the source generator and render it with RUN_DIR's adapted generator."""
    import torch

    from gan_adapt.plugin import (LPIPS, BuildContext, GanAdaptError, TargetData, get_run_plugins,
                                  load_generator, load_image, read_toml, require_run_folder,
                                  resolve_device, save_grid, validate)

    folder = require_run_folder(run_dir)
    adapted_path = folder.generator / "native"
    if not adapted_path.exists():
        raise GanAdaptError(f"{folder.root} has no adapted generator yet (the run is not "
                            "finished); resume it first")
    meta = folder.read_meta()
    plugin_set = get_run_plugins(run_dir, plugins_dir)
    validated = validate(read_toml(folder.recipe), plugin_set, base_dir=Path(meta["base_dir"]),
                         source=str(folder.recipe))
    torch_device = resolve_device(device)
    ctx = BuildContext(device=torch_device, base_dir=validated.base_dir, target=TargetData())
    registry = plugin_set.registry
    recipe = validated.recipe
    G_s = registry.get("generator", recipe.generator.name).build(
        validated.params["generator"], ctx).to(torch_device).eval().requires_grad_(False)
    G_t = load_generator(adapted_path, device=str(torch_device)).eval().requires_grad_(False)
    ctx.generator = G_s
    image = load_image(photo, G_s.img_resolution).to(torch_device)

    lpips_params = next((validated.params[f"adapt.losses[{i}]"]
                         for i, t in enumerate(recipe.adapt.losses) if t.name == "lpips"),
                        LPIPS.Params())
    lpips = LPIPS(lpips_params, ctx).distance
    clip = None
    if clip_weight > 0:
        if "clip" not in recipe.encoders:
            raise GanAdaptError("--clip-weight needs an encoder named `clip` in the run's recipe")
        ref = recipe.encoders["clip"]
        clip = registry.get("encoder", ref.name).build(validated.params["encoders.clip"], ctx)
    w = invert(G_s, image, steps=steps, lr=lr, space=space, lpips=lpips, clip=clip,
               clip_weight=clip_weight)
    with torch.no_grad():
        reconstruction = G_s.synthesis(w, noise_mode="const")
        translation = G_t.synthesis(w, noise_mode="const")
    target = Path(out) if out else folder.root / "translations" / f"{Path(photo).stem}.png"
    save_grid(torch.cat([image, reconstruction, translation]), target, nrow=3)
    click.echo(f"Wrote {target} (photo | source reconstruction | adapted)")
