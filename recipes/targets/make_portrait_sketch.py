"""Draws ``portrait-sketch.png``: the offline demo's one-shot target, a pencil sketch of one
procedural portrait (``gan_adapt.synthetic_data.portraits``), 32 px like the shipped generator.

The portrait is the first one, in seed order, with long red hair, a smile and glasses on a blue
background: easy attributes to check by eye in the adapted samples. It is drawn by the
portraits domain itself (not by the generator) and sketched by the benchmark's ``sketch``
transform. Regenerate it with ``python recipes/targets/make_portrait_sketch.py``.
"""

from __future__ import annotations

from pathlib import Path

import torch

WANTED = {"hair_style": "long", "hair_colour": "red", "expression": "smiling",
          "eyewear": "glasses", "background": "blue"}


def find_portrait(resolution: int = 32) -> tuple[int, torch.Tensor, dict[str, str]]:
    """The first seed whose portrait has every attribute of :data:`WANTED`."""
    from gan_adapt.synthetic_data.portraits import portraits_batch

    for seed in range(10_000):
        portrait = portraits_batch(1, resolution, torch.Generator().manual_seed(seed))
        record = portrait.record(0)
        if all(record[k] == v for k, v in WANTED.items()):
            return seed, portrait.images, record
    raise RuntimeError("no portrait with the wanted attributes in 10,000 seeds")


DEFAULT_OUT = Path(__file__).with_name("portrait-sketch.png")


def main(out: Path = DEFAULT_OUT) -> Path:
    from gan_adapt.io.atomic_files import write_bytes
    from gan_adapt.io.images import encode_png
    from gan_adapt.synthetic_data.known_transforms import sketch

    seed, image, record = find_portrait()
    write_bytes(out, encode_png(sketch(image))[0])
    print(f"seed {seed}: {record} -> {out}")
    return out


if __name__ == "__main__":
    main()
