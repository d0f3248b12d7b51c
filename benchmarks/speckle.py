"""The demo's speckle: how much of the adapted samples' high-frequency energy the trained noise
strengths put there (docs/instruments.md, "The demo's speckle").

    python benchmarks/speckle.py LABEL RUN_DIR [LABEL RUN_DIR ...] [--grid OUT.png]

For each finished run it prints the last layer's noise strength (source and adapted) and the
mean |x - 3x3 box blur(x)| of 64 samples (seed 0, truncation 0.7) from the source, the adapted
generator, and the adapted generator with the source's noise strengths put back. ``--grid``
writes, per run, four labelled rows of 8 samples: source, adapted, adapted with the noise off,
adapted with the source's noise strengths.
"""

from __future__ import annotations

import argparse
import copy

import torch
import torch.nn.functional as F

LAST_NOISE = "synthesis.b32.conv1.noise_strength"


def high_frequency(x: torch.Tensor) -> float:
    box = torch.ones(3, 1, 3, 3) / 9
    return float((x - F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), box, groups=3))
                 .abs().mean())


def with_source_noise(G_s: torch.nn.Module, G_t: torch.nn.Module) -> torch.nn.Module:
    fixed = copy.deepcopy(G_t)
    with torch.no_grad():
        for (name, p_s), (_, p_f) in zip(G_s.named_parameters(), fixed.named_parameters()):
            if name.endswith("noise_strength"):
                p_f.copy_(p_s)
    return fixed


def main(argv: list[str] | None = None) -> int:
    import gan_adapt
    from gan_adapt.io.images import save_labelled_grid

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL RUN_DIR pairs")
    parser.add_argument("--grid", default=None, help="also write the rows of every run here")
    args = parser.parse_args(argv)
    if len(args.runs) % 2:
        parser.error("give LABEL RUN_DIR pairs")
    print("| run | adapt steps | last noise strength (source -> adapted) | high-frequency: "
          "source | adapted | adapted, source noise strengths |")
    print("|---|---|---|---|---|---|")
    rows, labels = [], []
    for label, folder in zip(args.runs[::2], args.runs[1::2]):
        run = gan_adapt.load_run(folder)
        G_s, G_t = run.source, run.adapted
        G_fixed = with_source_noise(G_s, G_t)
        z = torch.randn(64, G_s.z_dim, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            ws = G_s.mapping(z, truncation_psi=0.7)
            images = [G.synthesis(ws, noise_mode="const").clamp(-1, 1)
                      for G in (G_s, G_t, G_fixed)]
            quiet = G_t.synthesis(ws[:8], noise_mode="none").clamp(-1, 1)
        strengths = [dict(G.named_parameters())[LAST_NOISE].item() for G in (G_s, G_t)]
        print(f"| {label} | {run.recipe.recipe.adapt.steps} | {strengths[0]:+.4f} -> "
              f"{strengths[1]:+.4f} | " + " | ".join(f"{high_frequency(x):.4f}" for x in images)
              + " |")
        rows += [images[0][:8], images[1][:8], quiet, images[2][:8]]
        labels += ["source", "adapted", "no noise", "source\nnoise str."]
    if args.grid:
        save_labelled_grid(torch.cat(rows), args.grid, 8, labels)
        print(f"wrote {args.grid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
