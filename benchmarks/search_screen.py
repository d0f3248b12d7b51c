"""The tune split's search screen: how close does a recipe's latent search land to the face
behind the target?

For every run folder ``<bench>/runs/<label>/<transform>/<target>/seed<k>/`` of the labels given,
it measures the distance between G_s(w_ref) (the searched latent, ``generator/w_ref.pt``) and
the untransformed target x (``gan_adapt.evaluation.benchmark_targets``): pixel L1, the
independent evaluator's distance (docs/benchmark.md, "Protocol") and, as a second opinion, the
portraits-CLIP LPIPS-style distance. A search that lands on x gives
every reference-pair term the right source face; one that lands on a look-alike of the drawing
makes them copy the drawing's content.

    python benchmarks/search_screen.py BENCH_OUT search-best search-paper
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def untransformed(target_id: str, G: torch.nn.Module) -> torch.Tensor:
    from gan_adapt.evaluation.benchmark_targets import gan_image, render_image

    source, seed = target_id.split("-")
    return gan_image(G, int(seed)) if source == "gan" else render_image(int(seed),
                                                                        G.img_resolution)


@torch.no_grad()
def searched_face(run: Path, G: torch.nn.Module) -> torch.Tensor:
    w = torch.load(run / "generator" / "w_ref.pt", map_location="cpu", weights_only=True)
    if isinstance(w, dict):
        w = w.get("w_ref", next(iter(w.values())))
    if w.ndim == 2:
        w = w[:, None].expand(-1, G.num_ws, -1)
    return G.synthesis(w, noise_mode="const").clamp(-1, 1)


@torch.no_grad()
def main(argv: list[str] | None = None) -> dict:
    from gan_adapt.evaluation.evaluator import from_folder, load_evaluator
    from gan_adapt.generators import load

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", type=Path)
    parser.add_argument("labels", nargs="+")
    parser.add_argument("--evaluator", default="portraits-evaluator",
                        help="shipped name or exported folder")
    args = parser.parse_args(argv)
    from gan_adapt.evaluation.metric_models import build_lpips

    G = load("portraits-stylegan2-32").eval()
    clip_lpips = build_lpips("portraits-clip", None, G.img_resolution, torch.device("cpu")).model
    evaluator = (from_folder(args.evaluator) if Path(args.evaluator).is_dir()
                 else load_evaluator(args.evaluator))
    rows = []
    for label in args.labels:
        for run in sorted((args.bench / "runs" / label).glob("*/*/seed*")):
            if not (run / "result.json").is_file():
                continue
            transform, target = run.parent.parent.name, run.parent.name
            x, found = untransformed(target, G), searched_face(run, G)
            rows.append({"label": label, "transform": transform, "target": target,
                         "evaluator": float(evaluator.distance(found, x)),
                         "l1": float((found - x).abs().mean()),
                         "clip_lpips": float(clip_lpips(found, x).flatten()[0])})
    means = {}
    for label in args.labels:
        mine = [r for r in rows if r["label"] == label]
        if mine:
            means[label] = {k: sum(r[k] for r in mine) / len(mine)
                            for k in ("evaluator", "l1", "clip_lpips")}
            means[label]["runs"] = len(mine)
    for row in rows:
        print(f"{row['label']:14s} {row['transform']:11s} {row['target']:12s} "
              f"evaluator {row['evaluator']:.3f}  L1 {row['l1']:.3f}  "
              f"portraits-CLIP LPIPS {row['clip_lpips']:.3f}")
    print(json.dumps(means, indent=1))
    return {"rows": rows, "means": means, "evaluator": evaluator.provenance()}


if __name__ == "__main__":
    main()
