"""``gan-adapt compare``: the same latents through the source and several adapted generators.

The sheet has one row per generator (the shared source first, then each run in the order
given) and one column per latent; the left margin names each row and shows the run's
``eval.json`` numbers when the run has been evaluated. With ``interpolation`` steps, a second
sheet interpolates linearly in W between two latents, and ``gif`` animates it (every
generator side by side in each frame).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gan_adapt.errors import InputError

#: Metrics shown under a run's name on the sheet (short labels), when eval.json has them.
SHEET_METRICS = (("diversity_lpips", "div"), ("target_clip_image", "tgt img"),
                 ("target_clip_text", "tgt txt"), ("content_lpips", "content"),
                 ("fidelity_lpips", "fidelity"), ("fid", "FID"))
LABEL_WIDTH = 230


@dataclass
class Row:
    """One row of a sheet: a label, extra text lines, and a generator."""

    label: str
    lines: list[str]
    generator: Any


def _source_key(validated: Any) -> tuple[str, str]:
    """What identifies a run's source generator: component name and resolved params."""
    recipe = validated.recipe
    params = dict(recipe.generator.params)
    if isinstance(params.get("checkpoint"), str):
        from gan_adapt.generators.checkpoints import describe_source

        params["checkpoint"] = describe_source(params["checkpoint"], validated.base_dir)
    return recipe.generator.name, json.dumps(params, sort_keys=True)


def metric_lines(run_root: Path) -> list[str]:
    """Short metric lines from ``run_root/eval.json`` (or a hint when it is absent)."""
    from gan_adapt.engine.run_records import read_eval

    record = read_eval(run_root)
    if record is None:
        return ["(no eval.json)"]
    metrics = record["metrics"]
    return [f"{short} {metrics[key]:.3f}" for key, short in SHEET_METRICS
            if isinstance(metrics.get(key), (int, float))]


def load_rows(run_dirs: list[str | Path], plugin_set: Any, device: torch.device) -> list[Row]:
    """The source row and one row per run; every run must adapt the same source generator."""
    from gan_adapt.evaluation.runs import (
        build_source,
        load_adapted,
        open_run_recipe,
        result_outputs,
    )

    opened = [open_run_recipe(path, plugin_set) for path in run_dirs]
    keys = {_source_key(validated) for _, _, validated in opened}
    if len(keys) > 1:
        raise InputError("compare needs runs of the same source generator; these runs start "
                         "from different ones: " + "; ".join(f"{n} {p}" for n, p in keys))
    source = build_source(opened[0][2], plugin_set, device)
    rows = [Row("source", [opened[0][2].recipe.generator.name], source)]
    for folder, meta, validated in opened:
        adapted = load_adapted(folder, result_outputs(folder, meta), source, device)
        name = folder.root.resolve().name
        rows.append(Row(name, [f"recipe {validated.recipe.name}", *metric_lines(folder.root)],
                        adapted))
    return rows


@torch.no_grad()
def render_rows(rows: list[Row], ws: Tensor, tile: int) -> list[Tensor]:
    """Each row's generator on ``ws`` (const noise), resized to ``tile`` px: ``[N, 3, t, t]``."""
    import torch.nn.functional as F

    out = []
    for row in rows:
        images = row.generator.synthesis(ws.to(_device(row.generator)),
                                         noise_mode="const").clamp(-1, 1).cpu()
        if images.shape[-1] != tile:
            images = F.interpolate(images, size=(tile, tile), mode="bilinear",
                                   antialias=True, align_corners=False)
        out.append(images)
    return out


def _device(G: Any) -> torch.device:
    return next(G.parameters()).device


def tile_size(resolution: int) -> int:
    """Tiles are at least 128 px (small generators are upscaled) and at most 256 px."""
    return min(max(resolution, 128), 256)


def compose_sheet(rows: list[Row], images: list[Tensor], tile: int, pad: int = 4) -> Any:
    """A PIL image: a label column, then each row's images side by side."""
    from PIL import Image, ImageDraw

    from gan_adapt.io.images import to_uint8

    n = images[0].shape[0]
    width = LABEL_WIDTH + n * (tile + pad) + pad
    height = len(rows) * (tile + pad) + pad
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(14)
    small = _font(12)
    for r, (row, batch) in enumerate(zip(rows, images)):
        y = pad + r * (tile + pad)
        draw.text((8, y + 4), _ellipsis(row.label, 28), fill="black", font=font)
        for k, line in enumerate(row.lines[:8]):
            draw.text((8, y + 26 + 16 * k), _ellipsis(line, 32), fill=(70, 70, 70), font=small)
        for c, array in enumerate(to_uint8(batch).permute(0, 2, 3, 1).numpy()):
            sheet.paste(Image.fromarray(array, mode="RGB"), (LABEL_WIDTH + pad + c * (tile + pad),
                                                             y))
    return sheet


def _ellipsis(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # an old Pillow without scalable default font
        return ImageFont.load_default()


def latents(G: Any, n: int, seed: int, truncation: float) -> Tensor:
    """``n`` seeded latents mapped by ``G`` (the source), ``[n, num_ws, w_dim]``."""
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return G.mapping(z.to(_device(G)), truncation_psi=truncation)


def compare_runs(run_dirs: list[str | Path], plugin_set: Any, *, out: str | Path = "compare.png",
                 n: int = 6, seed: int = 0, truncation: float = 0.7, interpolation: int = 0,
                 gif: bool = False, device: torch.device | str = "cpu") -> list[Path]:
    """Write the comparison sheet (and the interpolation strip / GIF); return the files."""
    from gan_adapt.io import atomic_files as files
    from gan_adapt.recipe import user_numbers

    n = user_numbers.whole_number(n, "n", 1, 64)
    seed = user_numbers.whole_number(seed, "seed", 0, user_numbers.MAX_SEED - 1)  # seed + 1
    truncation = user_numbers.truncation(truncation)
    interpolation = user_numbers.whole_number(interpolation, "interpolation", 0, 64)
    rows = load_rows(run_dirs, plugin_set, torch.device(device))
    source = rows[0].generator
    tile = tile_size(source.img_resolution)
    out = Path(out)
    written = [_save(compose_sheet(rows, render_rows(rows, latents(source, n, seed, truncation),
                                                     tile), tile), out, files)]
    if interpolation >= 2:
        ends = latents(source, 2, seed + 1, truncation)
        t = torch.linspace(0, 1, interpolation).reshape(-1, 1, 1).to(ends.device)
        path_ws = ends[:1] * (1 - t) + ends[1:] * t  # linear in W
        strips = render_rows(rows, path_ws, tile)
        written.append(_save(compose_sheet(rows, strips, tile),
                             out.with_name(out.stem + "-interp.png"), files))
        if gif:
            written.append(_write_gif(strips, out.with_name(out.stem + "-interp.gif"), files))
    return written


def _save(image: Any, path: Path, files: Any) -> Path:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return files.write_bytes(path, buffer.getvalue())


def _write_gif(strips: list[Tensor], path: Path, files: Any, pad: int = 4) -> Path:
    """One frame per interpolation step (there and back): every generator side by side."""
    import io

    from PIL import Image

    from gan_adapt.io.images import to_uint8

    steps, tile = strips[0].shape[0], strips[0].shape[-1]
    frames = []
    for k in list(range(steps)) + list(range(steps - 2, 0, -1)):
        frame = Image.new("RGB", (len(strips) * (tile + pad) + pad, tile + 2 * pad), "white")
        for r, strip in enumerate(strips):
            array = to_uint8(strip[k:k + 1]).permute(0, 2, 3, 1).numpy()[0]
            frame.paste(Image.fromarray(array, mode="RGB"), (pad + r * (tile + pad), pad))
        frames.append(frame)
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=120,
                   loop=0)
    return files.write_bytes(path, buffer.getvalue())
