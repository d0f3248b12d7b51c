"""StyleGAN2 generator and discriminator: one implementation for both checkpoint families.

The rosinality (``stylegan2-pytorch``) and NVlabs (``stylegan2-ada-pytorch``) networks compute
the same functions with the same parameterisation ("equalised learning rate": raw weights are
stored and scaled by 1/sqrt(fan_in) at run time). They differ only in names and shapes of the
stored tensors, plus two NVlabs extras (label conditioning and ``conv_clamp``). So there is one
implementation here, named like NVlabs (``synthesis.b64.conv0.weight``), and two loaders that
rename the stored tensors (:mod:`.rosinality`, :mod:`.nvlabs`).

Architecture: G is the "skip" generator (ToRGB at every resolution, summed after up-sampling)
and D the "resnet" discriminator, the configuration of every released StyleGAN2 checkpoint.
Everything runs in float32; there is no fp16 path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from gan_adapt.generators import ops
from gan_adapt.recipe.parameter_groups import freeze  # noqa: F401  (re-exported)

NOISE_MODES = ("const", "random", "none")


# --------------------------------------------------------------------------------------------
# Configurations (small, JSON-serialisable, and all that is needed to rebuild a network).


def _int_keys(channels: dict[Any, int]) -> dict[int, int]:
    """Resolution -> width with int keys (JSON gives strings), lowest resolution first."""
    return {int(k): int(v) for k, v in sorted(channels.items(), key=lambda kv: int(kv[0]))}


def _check_resolution(res: int) -> None:
    if res < 4 or res & (res - 1):
        raise ValueError(f"img_resolution must be a power of two >= 4, got {res}")


@dataclass
class GeneratorConfig:
    """Everything that defines a StyleGAN2 generator's architecture.

    ``channels`` maps each resolution 4, 8, ..., ``img_resolution`` to its number of feature
    maps. Loaders infer all of it from a checkpoint's tensor shapes, except the values that no
    shape reveals: ``mapping_lr`` (rosinality assumes 0.01) and ``conv_clamp``.
    """

    img_resolution: int
    channels: dict[int, int]
    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 0
    img_channels: int = 3
    mapping_layers: int = 8
    mapping_hidden: int | None = None  # width of the hidden mapping layers; None = w_dim
    embed_features: int | None = None  # label embedding width (c_dim > 0); None = w_dim
    mapping_lr: float = 0.01  # learning-rate multiplier of the mapping network
    conv_clamp: float | None = None  # clamp conv outputs to +-conv_clamp (NVlabs); None = off

    def __post_init__(self) -> None:
        self.channels = _int_keys(self.channels)
        _check_resolution(self.img_resolution)
        missing = [r for r in self.resolutions if r not in self.channels]
        if missing:
            raise ValueError(f"channels lacks resolutions {missing}")

    @property
    def resolutions(self) -> list[int]:
        """Block resolutions, lowest first: [4, 8, ..., img_resolution]."""
        return [2**i for i in range(2, int(math.log2(self.img_resolution)) + 1)]

    @property
    def num_ws(self) -> int:
        """Number of per-layer w vectors: two convs per block (one at 4x4) plus the last ToRGB."""
        return 2 * len(self.resolutions)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (resolution keys become strings)."""
        d = asdict(self)
        d["channels"] = {str(k): v for k, v in self.channels.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GeneratorConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, not silently dropped."""
        return _from_dict(cls, d)


@dataclass
class DiscriminatorConfig:
    """Everything that defines a StyleGAN2 ("resnet") discriminator's architecture.

    ``channels`` maps 4, 8, ..., ``img_resolution`` to feature maps; the block that reads
    resolution r works with ``channels[r]`` maps and outputs ``channels[r // 2]``.
    """

    img_resolution: int
    channels: dict[int, int]
    c_dim: int = 0
    img_channels: int = 3
    cmap_dim: int | None = None  # label projection width; None = channels[4] (c_dim > 0 only)
    mapping_layers: int = 8  # depth of the label mapping network (c_dim > 0 only)
    mapping_lr: float = 0.01
    mbstd_group_size: int | None = 4  # None = the whole minibatch is one group
    mbstd_num_channels: int = 1  # 0 disables the minibatch-stddev layer
    conv_clamp: float | None = None

    def __post_init__(self) -> None:
        self.channels = _int_keys(self.channels)
        _check_resolution(self.img_resolution)
        missing = [r for r in [4, *self.block_resolutions] if r not in self.channels]
        if missing:
            raise ValueError(f"channels lacks resolutions {missing}")

    @property
    def block_resolutions(self) -> list[int]:
        """Input resolutions of the residual blocks, highest first: [img_resolution, ..., 8]."""
        return [2**i for i in range(int(math.log2(self.img_resolution)), 2, -1)]

    @property
    def effective_cmap_dim(self) -> int:
        """Width of the label projection (0 for an unconditional D)."""
        if self.c_dim == 0:
            return 0
        return self.cmap_dim if self.cmap_dim is not None else self.channels[4]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (resolution keys become strings)."""
        d = asdict(self)
        d["channels"] = {str(k): v for k, v in self.channels.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DiscriminatorConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, not silently dropped."""
        return _from_dict(cls, d)


def _from_dict(cls, d: dict[str, Any]):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}; known: {sorted(known)}")
    return cls(**d)


# --------------------------------------------------------------------------------------------
# Layers.


class FullyConnected(nn.Module):
    """Linear layer with equalised learning rate: ``act(x @ (W * lr / sqrt(in)).T + b * lr)``.

    Storing ``W / lr`` and multiplying back at run time makes Adam's effective step ``lr`` times
    smaller, which is how the mapping network gets its 100x lower learning rate.
    """

    def __init__(self, in_features: int, out_features: int, *, activation: str = "linear",
                 lr: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.activation = activation
        self.weight_gain = lr / math.sqrt(in_features)
        self.bias_gain = lr
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init) / lr))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.matmul((self.weight * self.weight_gain).t())
        return ops.bias_act(x, self.bias * self.bias_gain, act=self.activation)


class MappingNetwork(nn.Module):
    """z (and optional label c) -> w. With ``num_ws`` set, w is broadcast to every layer and can
    be truncated towards the running average ``w_avg``; the discriminator's label mapping uses
    ``num_ws=None`` (no broadcast, no ``w_avg``)."""

    def __init__(self, *, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None,
                 num_layers: int, hidden: int | None = None, embed_features: int | None = None,
                 lr: float = 0.01) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        embed = (embed_features or w_dim) if c_dim else 0
        hidden = hidden or w_dim
        features = [z_dim + embed] + [hidden] * (num_layers - 1) + [w_dim]
        if c_dim:
            self.embed = FullyConnected(c_dim, embed)
        for i in range(num_layers):
            self.add_module(f"fc{i}", FullyConnected(features[i], features[i + 1],
                                                     activation="lrelu", lr=lr))
        if num_ws is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None = None,
                truncation_psi: float = 1.0, truncation_cutoff: int | None = None
                ) -> torch.Tensor:
        parts = []
        if self.z_dim:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"z must have shape [N, {self.z_dim}], "
                                 f"got {None if z is None else list(z.shape)}")
            parts.append(ops.normalize_2nd_moment(z.float()))
        if self.c_dim:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(
                    f"this network is conditional: pass labels c of shape [N, {self.c_dim}] "
                    f"(one-hot rows), got {None if c is None else list(c.shape)}")
            # The label embedding is normalised on its own, so z and c weigh equally.
            parts.append(ops.normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.num_ws is None:
            return x
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cut = self.num_ws if truncation_cutoff is None else truncation_cutoff
            # torch.lerp, as NVlabs, so that truncated ws match the reference bit for bit.
            head = self.w_avg.lerp(x[:, :cut], truncation_psi)
            x = torch.cat([head, x[:, cut:]], dim=1)
        return x


class SynthesisLayer(nn.Module):
    """A styled 3x3 convolution: modulate by ``affine(w)``, demodulate, add scaled noise, then
    bias + leaky ReLU (+ clamp). ``up`` doubles the resolution first."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, *,
                 up: bool = False, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.resolution, self.up, self.conv_clamp = resolution, up, conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # The checkpoint's fixed noise image; used by noise_mode="const".
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None,
                kernel: torch.Tensor) -> torch.Tensor:
        x = ops.modulated_conv2d(x, self.weight, self.affine(w), up=self.up, kernel=kernel)
        if noise is not None:
            x = x + noise.to(x.dtype) * self.noise_strength
        return ops.bias_act(x, self.bias, act="lrelu", clamp=self.conv_clamp)


class ToRGB(nn.Module):
    """A modulated 1x1 convolution to image channels, without demodulation."""

    def __init__(self, in_channels: int, img_channels: int, w_dim: int, *,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.weight_gain = 1 / math.sqrt(in_channels)
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=False)
        return ops.bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the generator: (const input at 4x4 | up-sampling conv0), conv1, ToRGB.

    Its ToRGB output is added to the up-sampled image of the previous blocks ("skip" G).
    """

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, resolution: int,
                 img_channels: int, conv_clamp: float | None) -> None:
        super().__init__()
        self.resolution = resolution
        self.is_first = in_channels == 0
        if self.is_first:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=True,
                                        conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution,
                                    conv_clamp=conv_clamp)
        self.torgb = ToRGB(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)

    @property
    def num_conv(self) -> int:
        return 1 if self.is_first else 2

    def layers(self) -> list[SynthesisLayer]:
        """The block's noise-taking layers, in w / noise order."""
        return [self.conv1] if self.is_first else [self.conv0, self.conv1]

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise: Sequence[torch.Tensor | None], kernel: torch.Tensor,
                features: list[torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the block; when ``features`` is a list, append each styled conv's output to it."""
        if self.is_first:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        for i, layer in enumerate(self.layers()):
            x = layer(x, ws[:, i], noise[i], kernel)
            if features is not None:
                features.append(x)
        # The ToRGB shares its w with the next block's first conv (index num_conv).
        y = self.torgb(x, ws[:, self.num_conv])
        img = y if img is None else ops.upsample2x(img, kernel) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws ``[N, num_ws, w_dim]`` -> image ``[N, img_channels, R, R]`` (roughly in [-1, 1])."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.resolutions = config.resolutions
        self.num_ws, self.w_dim = config.num_ws, config.w_dim
        for res in self.resolutions:
            in_ch = config.channels[res // 2] if res > 4 else 0
            self.add_module(f"b{res}", SynthesisBlock(
                in_ch, config.channels[res], w_dim=config.w_dim, resolution=res,
                img_channels=config.img_channels, conv_clamp=config.conv_clamp))
        self.register_buffer("kernel", ops.fir_kernel(), persistent=False)

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.resolutions]

    def noise_layers(self) -> list[SynthesisLayer]:
        """Every layer that takes noise, in noise order (4x4 first; two per resolution after)."""
        return [layer for block in self.blocks() for layer in block.layers()]

    def forward(self, ws: torch.Tensor, noise_mode: str = "const",
                noise: Sequence[torch.Tensor] | None = None, return_features: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """The image; with ``return_features``, also every styled conv's activation
        ``[N, C, r, r]`` in w / noise-layer order (one per w index but the last, which only the
        final ToRGB reads), for losses on intermediate features such as Ojha et al.'s."""
        if ws.ndim == 2:
            ws = ws.unsqueeze(1).repeat(1, self.num_ws, 1)
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be [N, {self.w_dim}] or [N, {self.num_ws}, {self.w_dim}],"
                             f" got {list(ws.shape)}")
        layer_noise = self._layer_noise(ws.shape[0], noise_mode, noise, ws.device)
        x = img = None
        features: list[torch.Tensor] | None = [] if return_features else None
        w_idx = n_idx = 0
        for block in self.blocks():
            k = block.num_conv
            x, img = block(x, img, ws[:, w_idx:w_idx + k + 1], layer_noise[n_idx:n_idx + k],
                           self.kernel, features)
            w_idx += k
            n_idx += k
        return (img, features) if return_features else img

    def _layer_noise(self, batch: int, mode: str, noise: Sequence[torch.Tensor] | None,
                     device: torch.device) -> list[torch.Tensor | None]:
        layers = self.noise_layers()
        if noise is not None:
            if len(noise) != len(layers):
                raise ValueError(f"noise must hold {len(layers)} tensors (one per noise layer),"
                                 f" got {len(noise)}")
            for i, (n, layer) in enumerate(zip(noise, layers)):
                if n.shape[-2:] != (layer.resolution, layer.resolution):
                    raise ValueError(f"noise[{i}] must end in {layer.resolution}x"
                                     f"{layer.resolution}, got {list(n.shape)}")
            return list(noise)
        if mode == "const":
            return [layer.noise_const for layer in layers]
        if mode == "random":
            return [torch.randn(batch, 1, layer.resolution, layer.resolution, device=device)
                    for layer in layers]
        if mode == "none":
            return [None] * len(layers)
        raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {mode!r}")


class StyleGAN2Generator(nn.Module):
    """The public generator: ``mapping`` (z, c -> ws) followed by ``synthesis`` (ws -> image).

    Attributes ``z_dim``, ``w_dim``, ``c_dim``, ``num_ws``, ``img_resolution``, ``img_channels``
    and ``w_avg`` (the mean w, used for truncation) describe it; ``config`` rebuilds it.
    Images are ``[N, C, H, W]`` in roughly [-1, 1] (not clamped, as in both references).
    """

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        self.z_dim, self.w_dim, self.c_dim = config.z_dim, config.w_dim, config.c_dim
        self.img_resolution, self.img_channels = config.img_resolution, config.img_channels
        self.num_ws = config.num_ws
        #: Where the weights came from (path, format, which); filled in by the loaders.
        self.checkpoint_info: dict[str, Any] = {}
        self.synthesis = SynthesisNetwork(config)
        self.mapping = MappingNetwork(
            z_dim=config.z_dim, c_dim=config.c_dim, w_dim=config.w_dim, num_ws=config.num_ws,
            num_layers=config.mapping_layers, hidden=config.mapping_hidden,
            embed_features=config.embed_features, lr=config.mapping_lr)

    @property
    def w_avg(self) -> torch.Tensor:
        """The average w ``[w_dim]`` (a buffer of the mapping network)."""
        return self.mapping.w_avg

    @w_avg.setter
    def w_avg(self, value: torch.Tensor) -> None:
        with torch.no_grad():
            self.mapping.w_avg.copy_(value.reshape(self.w_dim))

    @property
    def num_noise_layers(self) -> int:
        return len(self.synthesis.noise_layers())

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None,
                truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                noise_mode: str = "const", noise: Sequence[torch.Tensor] | None = None
                ) -> torch.Tensor:
        """``synthesis(mapping(z, c, truncation_psi, truncation_cutoff), noise_mode, noise)``."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi,
                          truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, noise=noise)

    def make_noise(self, batch: int, generator: torch.Generator | None = None,
                   device: torch.device | str | None = None) -> list[torch.Tensor]:
        """Draw one set of per-layer noise ``[batch, 1, r, r]`` (in noise-layer order).

        Pass the same list to two generators' ``synthesis(..., noise=...)`` to make them see
        identical noise (the source and the adapted generator during adaptation).
        """
        device = torch.device(device) if device is not None else self.w_avg.device
        gen_device = generator.device if generator is not None else device
        return [torch.randn(batch, 1, layer.resolution, layer.resolution, generator=generator,
                            device=gen_device).to(device)
                for layer in self.synthesis.noise_layers()]

    @torch.no_grad()
    def mean_latent(self, n: int = 10000, seed: int = 0, chunk: int = 2048) -> torch.Tensor:
        """Estimate the mean w ``[w_dim]`` from ``n`` seeded standard-normal z.

        Used when a checkpoint carries no ``latent_avg``. For a conditional generator, labels
        are drawn uniformly among the one-hot classes.
        """
        gen = torch.Generator().manual_seed(seed)
        device = self.w_avg.device
        total = torch.zeros(self.w_dim, dtype=torch.float64, device=device)
        done = 0
        while done < n:
            m = min(chunk, n - done)
            z = torch.randn(m, self.z_dim, generator=gen).to(device)
            c = None
            if self.c_dim:
                c = nn.functional.one_hot(torch.randint(self.c_dim, (m,), generator=gen),
                                          self.c_dim).float().to(device)
            total += self.mapping(z, c)[:, 0].double().sum(dim=0)
            done += m
        return (total / n).float()

    def parameter_groups(self) -> dict[str, list[str]]:
        """Named groups of parameter names, for freezing by name (see :func:`freeze`).

        ``mapping`` (incl. the label embedding), ``const`` (the 4x4 input), ``b{res}.conv`` (the
        styled convs of a resolution with their affine, noise strength and bias) and
        ``b{res}.torgb``. Every parameter is in exactly one group.
        """
        groups: dict[str, list[str]] = {"mapping": [], "const": []}
        for res in self.synthesis.resolutions:
            groups[f"b{res}.conv"] = []
            groups[f"b{res}.torgb"] = []
        for name, _ in self.named_parameters():
            if name.startswith("mapping."):
                groups["mapping"].append(name)
                continue
            block, part = name.split(".")[1:3]  # synthesis.b64.conv0.weight
            if part == "const":
                groups["const"].append(name)
            elif part == "torgb":
                groups[f"{block}.torgb"].append(name)
            else:
                groups[f"{block}.conv"].append(name)
        return groups


# --------------------------------------------------------------------------------------------
# Discriminator.


class Conv2dLayer(nn.Module):
    """Equalised-lr convolution (+ bias, activation, clamp), optionally down-sampling by 2."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *,
                 bias: bool = True, activation: str = "lrelu", down: bool = False,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.activation, self.down, self.conv_clamp = activation, down, conv_clamp
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        if self.down:
            x = ops.conv2d_down2x(x, w, kernel)
        else:
            x = nn.functional.conv2d(x, w.to(x.dtype), padding=w.shape[-1] // 2)
        return ops.bias_act(x, self.bias, act=self.activation, clamp=self.conv_clamp)


class DiscriminatorBlock(nn.Module):
    """Residual block that halves the resolution: ``(skip(x) + conv1(conv0(x))) / sqrt(2)``.

    The first block also owns ``fromrgb``, the 1x1 conv that lifts the image to features.
    """

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, *,
                 img_channels: int, conv_clamp: float | None) -> None:
        super().__init__()
        self.is_first = in_channels == 0
        if self.is_first:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, down=True, conv_clamp=conv_clamp)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, activation="linear",
                                down=True)


def _run_layer(layer: nn.Module, x: torch.Tensor, kernel: torch.Tensor,
               dtype: torch.dtype | None) -> torch.Tensor:
    """``layer(x, kernel)`` under autocast to ``dtype``, or in float32 when ``dtype`` is None."""
    if dtype is None:
        return layer(x.float(), kernel)
    with torch.autocast(x.device.type, dtype=dtype):
        return layer(x, kernel)


class DiscriminatorEpilogue(nn.Module):
    """The 4x4 head: minibatch stddev, 3x3 conv, fully connected, output (or label projection)."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        c4 = config.channels[4]
        self.mbstd_group_size = config.mbstd_group_size
        self.mbstd_num_channels = config.mbstd_num_channels
        self.cmap_dim = config.effective_cmap_dim
        self.conv = Conv2dLayer(c4 + config.mbstd_num_channels, c4, 3,
                                conv_clamp=config.conv_clamp)
        self.fc = FullyConnected(c4 * 16, c4, activation="lrelu")
        self.out = FullyConnected(c4, self.cmap_dim or 1)


class StyleGAN2Discriminator(nn.Module):
    """The public discriminator: image ``[N, C, R, R]`` (and labels) -> logits ``[N, 1]``.

    Feature maps are named like the NVlabs modules that produce them. ``b{res}`` is the block
    whose INPUT is res x res; its maps are ``b{res}.fromrgb`` (first block only, res x res),
    ``b{res}.conv0`` (res x res), ``b{res}.conv1`` (res/2, the main branch after the stride-2
    conv, before the skip sum and the 1/sqrt(2)) and ``b{res}`` (the block output, res/2).
    The 4x4 head adds ``b4.conv`` and ``b4.fc``. rosinality's ``convs.i.conv1`` / ``.conv2``
    (i >= 1) are ``b{R / 2**(i-1)}.conv0`` / ``.conv1``.
    """

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        self.img_resolution, self.img_channels = config.img_resolution, config.img_channels
        self.c_dim = config.c_dim
        ch = config.channels
        for res in config.block_resolutions:
            in_ch = 0 if res == config.img_resolution else ch[res]
            self.add_module(f"b{res}", DiscriminatorBlock(
                in_ch, ch[res], ch[res // 2], img_channels=config.img_channels,
                conv_clamp=config.conv_clamp))
        if config.c_dim:
            cmap = config.effective_cmap_dim
            self.mapping = MappingNetwork(z_dim=0, c_dim=config.c_dim, w_dim=cmap, num_ws=None,
                                          num_layers=config.mapping_layers, hidden=cmap,
                                          embed_features=cmap, lr=config.mapping_lr)
        self.b4 = DiscriminatorEpilogue(config)
        self.register_buffer("kernel", ops.fir_kernel(), persistent=False)
        #: Run the trunk on channels-last feature maps (same function; faster convolutions on
        #: CPU (oneDNN) and on GPU tensor cores).
        self.channels_last = True
        #: dtype of the mixed-precision blocks (None: everything float32). As StyleGAN2-ADA kept
        #: its low-resolution layers in full precision, only the blocks reading one of the four
        #: highest resolutions run under autocast; the rest and the 4x4 head stay float32.
        self.mixed_precision: torch.dtype | None = None

    @property
    def feature_names(self) -> list[str]:
        """Every feature map :meth:`features` can return, in computation order."""
        names = []
        for res in self.config.block_resolutions:
            if res == self.img_resolution:
                names.append(f"b{res}.fromrgb")
            names += [f"b{res}.conv0", f"b{res}.conv1", f"b{res}"]
        return names + ["b4.conv", "b4.fc"]

    def _trunk(self, img: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        """Yield (name, map) in computation order; the caller stops it when it has enough."""
        if img.ndim != 4 or img.shape[1:] != (self.img_channels, self.img_resolution,
                                              self.img_resolution):
            raise ValueError(f"D expects images [N, {self.img_channels}, {self.img_resolution}, "
                             f"{self.img_resolution}], got {list(img.shape)}")
        k = self.kernel
        x = img.float()
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for res in self.config.block_resolutions:
            block: DiscriminatorBlock = getattr(self, f"b{res}")
            dtype = self._block_dtype(res)
            # One autocast scope per layer: a scope must not stay open across a `yield`, or the
            # caller would run under it while the generator is suspended.
            if block.is_first:
                x = _run_layer(block.fromrgb, x, k, dtype)
                yield f"b{res}.fromrgb", x
            h = _run_layer(block.conv0, x, k, dtype)
            yield f"b{res}.conv0", h
            h = _run_layer(block.conv1, h, k, dtype)
            yield f"b{res}.conv1", h
            x = (_run_layer(block.skip, x, k, dtype) + h) * math.sqrt(0.5)
            yield f"b{res}", x
        x = x.float()
        head = self.b4
        if head.mbstd_num_channels:
            x = ops.minibatch_stddev(x, head.mbstd_group_size, head.mbstd_num_channels)
        x = head.conv(x, k)
        yield "b4.conv", x
        x = head.fc(x.flatten(1))
        yield "b4.fc", x
        yield "out", head.out(x)

    def _block_dtype(self, res: int) -> torch.dtype | None:
        """The autocast dtype of block ``b{res}`` (None: float32)."""
        if self.mixed_precision is None or res < self.img_resolution // 8:
            return None
        return self.mixed_precision

    def _logits(self, out: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        if not self.c_dim:
            return out
        # Projection discriminator: score = <out, embed(c)> / sqrt(cmap_dim).
        cmap = self.mapping(None, c)
        return (out * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.b4.cmap_dim))

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None,
                features: Sequence[str] | None = None
                ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits ``[N, 1]``; with ``features`` (names), also ``{name: map}`` from the same pass."""
        wanted = set(self._check_names(features or ()))
        maps: dict[str, torch.Tensor] = {}
        out = None
        for name, value in self._trunk(img):
            if name in wanted:
                maps[name] = value
            out = value
        logits = self._logits(out, c)
        return logits if features is None else (logits, maps)

    def features(self, img: torch.Tensor, name: str) -> torch.Tensor:
        """The feature map ``name``, computing only the layers up to it (no logits)."""
        self._check_names([name])
        for key, value in self._trunk(img):
            if key == name:
                return value
        raise AssertionError("unreachable: name was checked")

    def _check_names(self, names: Sequence[str]) -> Sequence[str]:
        unknown = [n for n in names if n not in self.feature_names]
        if unknown:
            raise ValueError(f"unknown feature map(s) {unknown}; this D has {self.feature_names}")
        return names

    def parameter_groups(self) -> dict[str, list[str]]:
        """Groups ``b{res}`` (a residual block, ``fromrgb`` included), ``b4`` (the head) and,
        for a conditional D, ``mapping``. Every parameter is in exactly one group."""
        groups: dict[str, list[str]] = {}
        for name, _ in self.named_parameters():
            groups.setdefault(name.split(".")[0], []).append(name)
        return groups


__all__ = [
    "DiscriminatorConfig", "GeneratorConfig", "StyleGAN2Discriminator", "StyleGAN2Generator",
    "freeze", "NOISE_MODES",
]
