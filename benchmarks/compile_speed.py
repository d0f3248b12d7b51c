"""Eager against ``torch.compile``: the StyleGAN2 generator's synthesis network and the
discriminator, forward + backward, at their real sizes with random config-f weights.

This is what the recipe option ``compile = true`` (``search.compile``, ``adapt.compile``)
changes: the engine compiles ``G.synthesis`` and D's ``forward`` / ``features`` (see
``gan_adapt/engine/compiling.py``). The networks come from ``benchmarks/step_time.py``'s
random-weight components, so they are the ones its step timings use.

For each network it prints the time of the first compiled call (the compilation), then the
median seconds per forward + backward of the eager and the compiled module, alternated call by
call in one process (on a shared machine, quote the ratio), and the largest relative
difference of the output and of the gradients between the two.

Examples::

    python benchmarks/compile_speed.py                       # 256 px, batch 2, inductor
    python benchmarks/compile_speed.py --repeats 5 --networks G
    python benchmarks/compile_speed.py --backend aot_eager   # capture only: no code generation
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from step_time import (  # noqa: E402  (benchmarks/ is not a package)
    BenchParams,
    _random_discriminator,
    _random_generator,
    describe,
    log,
    synchronize,
)

Pass = Callable[[], tuple[torch.Tensor, list[torch.Tensor]]]


def generator_pass(G: torch.nn.Module, batch: int, device: torch.device
                   ) -> tuple[Pass, list[str]]:
    """A closure running ``G.synthesis`` forward + backward on fixed latents and noise, as a
    fine-tuning step's generator update does (weights trainable, noise shared), and the names
    of the gradients it returns."""
    G.train().requires_grad_(True)
    gen = torch.Generator().manual_seed(0)
    ws = G.mapping(torch.randn(batch, G.z_dim, generator=gen).to(device)).detach()
    noise = G.make_noise(batch, gen, device)
    names, params = zip(*G.synthesis.named_parameters())
    probe = torch.randn(batch, 3, G.img_resolution, G.img_resolution, generator=gen).to(device)

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        img = G.synthesis(ws, noise=noise)
        grads = torch.autograd.grad((img * probe).sum(), params)
        return img.detach(), list(grads)

    return run, list(names)


def discriminator_pass(D: torch.nn.Module, batch: int, device: torch.device
                       ) -> tuple[Pass, list[str]]:
    """A closure running D forward + backward to its weights and its input image, as a
    discriminator update on generated images with a gradient path to G does, and the names of
    the gradients it returns."""
    D.requires_grad_(True)
    gen = torch.Generator().manual_seed(1)
    resolution = D.img_resolution
    images = torch.randn(batch, 3, resolution, resolution, generator=gen).to(device)
    names, params = zip(*D.named_parameters())

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = images.clone().requires_grad_(True)
        logits = D(x)
        grads = torch.autograd.grad(torch.nn.functional.softplus(logits).sum(), [x, *params])
        return logits.detach(), list(grads)

    return run, ["input", *names]


def max_relative_difference(a: list[torch.Tensor], b: list[torch.Tensor]) -> tuple[float, int]:
    """max over tensors of max|a - b| / max|b|, and the index of the tensor that has it."""
    diffs = [float((x - y).abs().max() / y.abs().max().clamp_min(1e-30)) for x, y in zip(a, b)]
    worst = max(range(len(diffs)), key=diffs.__getitem__)
    return diffs[worst], worst


def compare(name: str, module: torch.nn.Module, step: Pass, grad_names: list[str], *,
            backend: str, repeats: int, device: torch.device) -> dict[str, float | str]:
    """Compile ``module`` in place, then alternate eager (``force_eager`` stance) and compiled
    calls of ``step``; returns the compile time, medians and differences."""
    eager_out, eager_grads = step()  # warm-up of the eager path (allocator, oneDNN primitives)
    module.compile(dynamic=False, backend=backend)
    synchronize(device)
    start = time.perf_counter()
    out, grads = step()
    synchronize(device)
    compile_s = time.perf_counter() - start
    log(f"{name}: first compiled forward + backward {compile_s:.1f} s")
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(repeats):
        for mode in ("eager", "compiled"):
            stance = "force_eager" if mode == "eager" else "default"
            with torch.compiler.set_stance(stance):
                synchronize(device)
                start = time.perf_counter()
                result = step()
                synchronize(device)
            times[mode].append(time.perf_counter() - start)
            if mode == "eager":
                eager_out, eager_grads = result
            else:
                out, grads = result
    eager, compiled = statistics.median(times["eager"]), statistics.median(times["compiled"])
    grad_diff, worst = max_relative_difference(grads, eager_grads)
    return {"compile_s": compile_s, "eager_s": eager, "compiled_s": compiled,
            "speedup": eager / compiled,
            "output_rel_diff": max_relative_difference([out], [eager_out])[0],
            "grad_rel_diff": grad_diff, "worst_grad": grad_names[worst]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch", type=int, default=2,
                        help="images per call (a random fine-tuning step's batch)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of each mode")
    parser.add_argument("--networks", default="G,D", help="comma-separated: G, D")
    parser.add_argument("--backend", default="inductor", help="torch.compile backend")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    ctx = SimpleNamespace(device=device)
    params = BenchParams(resolution=args.resolution)
    log(f"{describe(device)}; {args.resolution} px, batch {args.batch}, backend {args.backend}")
    rows = {}
    for name in args.networks.split(","):
        if name == "G":
            module = _random_generator(params, ctx)
            rows[name] = compare("G.synthesis", module.synthesis,
                                 *generator_pass(module, args.batch, device),
                                 backend=args.backend, repeats=args.repeats, device=device)
        elif name == "D":
            module = _random_discriminator(params, ctx)
            rows[name] = compare("D", module, *discriminator_pass(module, args.batch, device),
                                 backend=args.backend, repeats=args.repeats, device=device)
        else:
            parser.error(f"unknown network {name!r} (G, D)")
    print("\n| network | compile s | eager s | compiled s | speed-up "
          "| max rel diff out / grads (worst gradient) |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['compile_s']:.1f} | {r['eager_s']:.3f} | {r['compiled_s']:.3f} | "
              f"{r['speedup']:.2f}x | {r['output_rel_diff']:.1e} / {r['grad_rel_diff']:.1e} "
              f"({r['worst_grad']}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
