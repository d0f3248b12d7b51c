"""Tiny random StyleGAN2 networks for tests and smoke recipes (built in milliseconds).

``tiny()`` returns a (G, D) pair; ``write_tiny_checkpoint()`` writes them as a rosinality ``.pt``
(or a native folder), which is what recipes point at. From the shell::

    python -m gan_adapt.generators.tiny_models OUT.pt --resolution 32

Weights are drawn like the parity vectors' networks (not like a fresh upstream init, whose zero
biases and noise strengths would hide bugs): N(0, 1) weights, small random biases and noise
strengths, modulation biases around 1, and ``w_avg`` estimated from the mapping network.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from gan_adapt.generators import native, rosinality
from gan_adapt.generators.networks import (
    DiscriminatorConfig,
    GeneratorConfig,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
)


def _randomise(module: torch.nn.Module, gen: torch.Generator) -> None:
    """Redraw every parameter in place (deterministically, from ``gen``)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            lr = 0.01 if name.startswith("mapping.fc") else 1.0
            leaf = name.rsplit(".", 1)[-1]
            if name.endswith("affine.bias"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif leaf == "noise_strength":
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif leaf == "bias":
                p.copy_(0.1 * torch.randn(p.shape, generator=gen) / lr)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / lr)
        for name, b in module.named_buffers():
            if name.endswith("noise_const"):
                b.copy_(torch.randn(b.shape, generator=gen))


def tiny(resolution: int = 16, channels: int = 16, w_dim: int = 32, n_mlp: int = 2,
         seed: int = 0, c_dim: int = 0
         ) -> tuple[StyleGAN2Generator, StyleGAN2Discriminator]:
    """A random StyleGAN2 (G, D) pair: ``channels`` feature maps at every resolution,
    ``z_dim = w_dim``, an ``n_mlp``-layer mapping network, optional labels (``c_dim``)."""
    widths = {2**i: channels for i in range(2, resolution.bit_length())}
    g_config = GeneratorConfig(img_resolution=resolution, channels=widths, z_dim=w_dim,
                               w_dim=w_dim, c_dim=c_dim, mapping_layers=n_mlp)
    d_config = DiscriminatorConfig(img_resolution=resolution, channels=widths, c_dim=c_dim,
                                   mapping_layers=n_mlp)
    gen = torch.Generator().manual_seed(seed)
    G, D = StyleGAN2Generator(g_config), StyleGAN2Discriminator(d_config)
    _randomise(G, gen)
    _randomise(D, gen)
    G.w_avg = G.mean_latent(n=2000, seed=seed)
    G.checkpoint_info = {"format": "tiny", "seed": seed}
    return G.eval(), D.eval()


def write_tiny_checkpoint(path: str | Path, resolution: int = 16, channels: int = 16,
                          w_dim: int = 32, n_mlp: int = 2, seed: int = 0,
                          format: str = "rosinality") -> Path:
    """Write :func:`tiny`'s pair as a rosinality ``.pt`` (``format="rosinality"``, with
    ``g_ema``, ``d`` and ``latent_avg``) or a native folder (``format="native"``)."""
    G, D = tiny(resolution, channels, w_dim, n_mlp, seed)
    if format == "rosinality":
        return rosinality.export_rosinality(G, path, discriminator=D)
    if format == "native":
        return native.save(G, path, discriminator=D, metadata={"tiny_seed": seed})
    raise ValueError(f"format must be 'rosinality' or 'native', got {format!r}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gan_adapt.generators.tiny_models",
        description="Write a tiny random StyleGAN2 checkpoint (for tests and smoke recipes).")
    parser.add_argument("out", help="output .pt file (rosinality) or folder (native)")
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--w-dim", type=int, default=32)
    parser.add_argument("--n-mlp", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=["rosinality", "native"], default=None,
                        help="default: rosinality for a .pt path, native otherwise")
    args = parser.parse_args(argv)
    fmt = args.format or ("rosinality" if args.out.endswith((".pt", ".pth")) else "native")
    path = write_tiny_checkpoint(args.out, args.resolution, args.channels, args.w_dim,
                                 args.n_mlp, args.seed, fmt)
    print(f"wrote {fmt} checkpoint {path}")


if __name__ == "__main__":
    main()
