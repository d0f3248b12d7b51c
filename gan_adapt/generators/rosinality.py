"""rosinality ``stylegan2-pytorch`` checkpoints <-> gan-adapt networks.

A rosinality ``.pt`` is a dict with ``g_ema`` (and usually ``g``, ``d``, ``latent_avg``; training
checkpoints add optimiser states and ``args``). Its state dicts hold the same tensors as ours
under other names and a few different shapes (a leading batch axis on conv weights, ``[1]``
noise strengths, ``[1, 1, r, r]`` noise buffers), plus fixed blur-kernel buffers. One table,
:func:`generator_key_table` / :func:`discriminator_key_table`, lists every rosinality key in
upstream ``state_dict()`` order with its gan-adapt name and shape rule; import and export both
read it, so they cannot drift apart.

Two values are not stored in these files: the mapping learning-rate multiplier ``lr_mlp``
(upstream default 0.01, assumed here) and the architecture itself, which is inferred from shapes.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from gan_adapt.errors import CheckpointError, GanAdaptError
from gan_adapt.generators import ops
from gan_adapt.generators.networks import (
    DiscriminatorConfig,
    GeneratorConfig,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
)
from gan_adapt.io import atomic_files as files

#: The mapping lr multiplier rosinality uses and does not store.
ROSINALITY_LR_MLP = 0.01


@dataclass(frozen=True)
class KeyRule:
    """One rosinality tensor: its name, its gan-adapt name (None for a fixed blur kernel) and
    the shape rule: ``same``, ``lead1`` (rosinality adds a leading axis of 1: conv weights,
    the constant input), ``scalar1`` (``[1]`` vs ``[]``), ``rgb_bias`` (``[1, C, 1, 1]`` vs
    ``[C]``), ``noise`` (``[1, 1, r, r]`` vs ``[r, r]``), ``mapping`` (like ``same`` but stored
    for lr 0.01), ``blur_up`` / ``blur`` (filter x4 / x1, rosinality only)."""

    ros: str
    ours: str | None
    rule: str


def _styled_conv(ros: str, ours: str, blur: bool) -> list[KeyRule]:
    rules = [KeyRule(f"{ros}.conv.weight", f"{ours}.weight", "lead1")]
    if blur:
        rules.append(KeyRule(f"{ros}.conv.blur.kernel", None, "blur_up"))
    return rules + [
        KeyRule(f"{ros}.conv.modulation.weight", f"{ours}.affine.weight", "same"),
        KeyRule(f"{ros}.conv.modulation.bias", f"{ours}.affine.bias", "same"),
        KeyRule(f"{ros}.noise.weight", f"{ours}.noise_strength", "scalar1"),
        KeyRule(f"{ros}.activate.bias", f"{ours}.bias", "same"),
    ]


def _to_rgb(ros: str, ours: str, upsample: bool) -> list[KeyRule]:
    rules = [KeyRule(f"{ros}.bias", f"{ours}.bias", "rgb_bias")]
    if upsample:
        rules.append(KeyRule(f"{ros}.upsample.kernel", None, "blur_up"))
    return rules + [
        KeyRule(f"{ros}.conv.weight", f"{ours}.weight", "lead1"),
        KeyRule(f"{ros}.conv.modulation.weight", f"{ours}.affine.weight", "same"),
        KeyRule(f"{ros}.conv.modulation.bias", f"{ours}.affine.bias", "same"),
    ]


def generator_key_table(n_mlp: int, size: int) -> list[KeyRule]:
    """Every key of a rosinality ``Generator`` state dict, in upstream order."""
    table: list[KeyRule] = []
    for i in range(1, n_mlp + 1):  # style.0 is the parameter-free PixelNorm
        table += [KeyRule(f"style.{i}.weight", f"mapping.fc{i - 1}.weight", "mapping"),
                  KeyRule(f"style.{i}.bias", f"mapping.fc{i - 1}.bias", "mapping")]
    table.append(KeyRule("input.input", "synthesis.b4.const", "lead1"))
    table += _styled_conv("conv1", "synthesis.b4.conv1", blur=False)
    table += _to_rgb("to_rgb1", "synthesis.b4.torgb", upsample=False)
    resolutions = [2**i for i in range(3, int(math.log2(size)) + 1)]
    for j, res in enumerate(resolutions):
        table += _styled_conv(f"convs.{2 * j}", f"synthesis.b{res}.conv0", blur=True)
        table += _styled_conv(f"convs.{2 * j + 1}", f"synthesis.b{res}.conv1", blur=False)
    for j, res in enumerate(resolutions):
        table += _to_rgb(f"to_rgbs.{j}", f"synthesis.b{res}.torgb", upsample=True)
    noise_layers = ["synthesis.b4.conv1"] + [f"synthesis.b{r}.conv{k}" for r in resolutions
                                             for k in (0, 1)]
    table += [KeyRule(f"noises.noise_{i}", f"{name}.noise_const", "noise")
              for i, name in enumerate(noise_layers)]
    return table


def discriminator_key_table(size: int) -> list[KeyRule]:
    """Every key of a rosinality ``Discriminator`` state dict, in upstream order."""
    table = [KeyRule("convs.0.0.weight", f"b{size}.fromrgb.weight", "same"),
             KeyRule("convs.0.1.bias", f"b{size}.fromrgb.bias", "same")]
    for i, res in enumerate([2**k for k in range(int(math.log2(size)), 2, -1)], start=1):
        table += [
            KeyRule(f"convs.{i}.conv1.0.weight", f"b{res}.conv0.weight", "same"),
            KeyRule(f"convs.{i}.conv1.1.bias", f"b{res}.conv0.bias", "same"),
            KeyRule(f"convs.{i}.conv2.0.kernel", None, "blur"),
            KeyRule(f"convs.{i}.conv2.1.weight", f"b{res}.conv1.weight", "same"),
            KeyRule(f"convs.{i}.conv2.2.bias", f"b{res}.conv1.bias", "same"),
            KeyRule(f"convs.{i}.skip.0.kernel", None, "blur"),
            KeyRule(f"convs.{i}.skip.1.weight", f"b{res}.skip.weight", "same"),
        ]
    table += [KeyRule("final_conv.0.weight", "b4.conv.weight", "same"),
              KeyRule("final_conv.1.bias", "b4.conv.bias", "same"),
              KeyRule("final_linear.0.weight", "b4.fc.weight", "same"),
              KeyRule("final_linear.0.bias", "b4.fc.bias", "same"),
              KeyRule("final_linear.1.weight", "b4.out.weight", "same"),
              KeyRule("final_linear.1.bias", "b4.out.bias", "same")]
    return table


def _blur(rule: str) -> torch.Tensor:
    # Up-sampling blurs carry the x4 gain inside the kernel; down-sampling ones do not.
    return ops.fir_kernel() * (4.0 if rule == "blur_up" else 1.0)


def _import_tensor(t: torch.Tensor, rule: str) -> torch.Tensor:
    if rule == "lead1":
        return t.squeeze(0)
    if rule in ("scalar1", "rgb_bias"):
        return t.reshape(-1) if rule == "rgb_bias" else t.reshape([])
    if rule == "noise":
        return t.reshape(t.shape[-2:])
    return t


def _export_tensor(t: torch.Tensor, rule: str, mapping_scale: float) -> torch.Tensor:
    t = t.detach().float().cpu()
    if rule == "lead1":
        return t.unsqueeze(0).clone()
    if rule == "scalar1":
        return t.reshape(1).clone()
    if rule == "rgb_bias":
        return t.reshape(1, -1, 1, 1).clone()
    if rule == "noise":
        return t.reshape(1, 1, *t.shape).clone()
    if rule == "mapping":
        return (t * mapping_scale).contiguous()
    return t.clone()


def _convert_in(state: Mapping[str, torch.Tensor], table: list[KeyRule], what: str,
                source: str, strict_extra: bool) -> dict[str, torch.Tensor]:
    missing = [r.ros for r in table if r.ros not in state]
    if missing:
        raise CheckpointError(
            f"{source}: the rosinality {what} state dict lacks {len(missing)} expected key(s), "
            f"e.g. {', '.join(missing[:4])}; it is not a complete stylegan2-pytorch {what}.")
    known = {r.ros for r in table}
    extra = [k for k in state if k not in known]
    if extra:
        message = (f"{source}: the rosinality {what} state dict has unexpected key(s) "
                   f"{', '.join(extra[:4])}")
        if strict_extra:
            raise CheckpointError(message + "; it is not a plain stylegan2-pytorch " + what)
        warnings.warn(message + "; they are ignored", stacklevel=3)
    out: dict[str, torch.Tensor] = {}
    for rule in table:
        t = state[rule.ros]
        if rule.ours is None:
            if t.shape != (4, 4) or not torch.allclose(t.float(), _blur(rule.rule), atol=1e-6):
                raise CheckpointError(f"{source}: {rule.ros} is not the standard [1, 3, 3, 1] "
                                      "blur kernel; gan-adapt supports only that filter")
            continue
        out[rule.ours] = _import_tensor(t.float(), rule.rule)
    return out


def is_generator_state(state: Mapping[str, object]) -> bool:
    return "input.input" in state and "style.1.weight" in state


def is_discriminator_state(state: Mapping[str, object]) -> bool:
    return "convs.0.0.weight" in state and "final_linear.0.weight" in state


def generator_from_state(state: Mapping[str, torch.Tensor], source: str,
                         lr_mlp: float = ROSINALITY_LR_MLP
                         ) -> tuple[GeneratorConfig, dict[str, torch.Tensor]]:
    """Config and gan-adapt state dict of a rosinality ``Generator`` state dict.

    The result has no ``mapping.w_avg``: it comes from the file's ``latent_avg``, or is
    estimated.
    """
    try:
        n_mlp = 0
        while f"style.{n_mlp + 1}.weight" in state:
            n_mlp += 1
        n_convs = 0
        while f"convs.{n_convs}.conv.weight" in state:
            n_convs += 1
        size = 2 ** (2 + n_convs // 2)
        style_dim = int(state["style.1.weight"].shape[0])
        channels = {4: int(state["input.input"].shape[1])}
        for j in range(n_convs // 2):
            channels[2 ** (j + 3)] = int(state[f"convs.{2 * j}.conv.weight"].shape[1])
    except (KeyError, IndexError) as exc:
        raise CheckpointError(f"{source}: incomplete rosinality generator ({exc})") from None
    ours = _convert_in(state, generator_key_table(n_mlp, size), "generator", source,
                       strict_extra=True)
    config = GeneratorConfig(img_resolution=size, channels=channels, z_dim=style_dim,
                             w_dim=style_dim, mapping_layers=n_mlp, mapping_lr=lr_mlp)
    return config, ours


def discriminator_from_state(state: Mapping[str, torch.Tensor], source: str
                             ) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]]:
    """Config and gan-adapt state dict of a rosinality ``Discriminator`` state dict."""
    try:
        n_blocks = 0
        while f"convs.{n_blocks + 1}.conv1.0.weight" in state:
            n_blocks += 1
        size = 2 ** (n_blocks + 2)
        channels = {size: int(state["convs.0.0.weight"].shape[0]),
                    4: int(state["final_conv.0.weight"].shape[0])}
        for i in range(1, n_blocks + 1):
            channels[size // 2 ** (i - 1)] = int(state[f"convs.{i}.conv1.0.weight"].shape[0])
        mbstd = int(state["final_conv.0.weight"].shape[1]) - channels[4]
    except (KeyError, IndexError) as exc:
        raise CheckpointError(f"{source}: incomplete rosinality discriminator ({exc})") from None
    ours = _convert_in(state, discriminator_key_table(size), "discriminator", source,
                       strict_extra=False)
    config = DiscriminatorConfig(img_resolution=size, channels=channels,
                                 mbstd_group_size=4, mbstd_num_channels=mbstd)
    return config, ours


# --------------------------------------------------------------------------------------------
# Export.


def _check_exportable_g(config: GeneratorConfig) -> None:
    problems = []
    if config.c_dim:
        problems.append(f"it is conditional (c_dim={config.c_dim})")
    if config.z_dim != config.w_dim:
        problems.append(f"z_dim {config.z_dim} differs from w_dim {config.w_dim}")
    if config.mapping_hidden not in (None, config.w_dim):
        problems.append("its mapping layers are not w_dim wide")
    if config.img_channels != 3:
        problems.append(f"it outputs {config.img_channels} channels, not RGB")
    if problems:
        raise GanAdaptError("This generator cannot be written in the rosinality layout: "
                            + "; ".join(problems) + ". Save it in gan-adapt's native format.")


def rosinality_channel_multiplier(channels: Mapping[int, int]) -> int | None:
    """The ``channel_multiplier`` that makes rosinality's hard-coded widths equal ``channels``
    (what a peer tool must pass to its ``Generator``), or None when none does."""
    for cm in (1, 2, 4):
        widths = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm,
                  256: 64 * cm, 512: 32 * cm, 1024: 16 * cm}
        if all(widths.get(r) == c for r, c in channels.items()):
            return cm
    return None


def generator_to_state(generator: StyleGAN2Generator) -> OrderedDict[str, torch.Tensor]:
    """A rosinality ``Generator`` state dict (upstream key names, shapes and order)."""
    config = generator.config
    _check_exportable_g(config)
    if config.conv_clamp is not None:
        warnings.warn(f"rosinality's StyleGAN2 has no conv_clamp: the exported generator drops "
                      f"the clamp at +-{config.conv_clamp} (outputs change only where it was "
                      "active)", stacklevel=3)
    ours = generator.state_dict()
    # Stored mapping weights are W / lr; rosinality multiplies by 0.01, so rescale.
    scale = config.mapping_lr / ROSINALITY_LR_MLP
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for rule in generator_key_table(config.mapping_layers, config.img_resolution):
        out[rule.ros] = (_blur(rule.rule) if rule.ours is None
                         else _export_tensor(ours[rule.ours], rule.rule, scale))
    return out


def discriminator_to_state(discriminator: StyleGAN2Discriminator
                           ) -> OrderedDict[str, torch.Tensor]:
    """A rosinality ``Discriminator`` state dict (upstream key names, shapes and order)."""
    config = discriminator.config
    if config.c_dim or config.mbstd_group_size != 4 or config.mbstd_num_channels != 1 \
            or config.img_channels != 3:
        raise GanAdaptError(
            "This discriminator cannot be written in the rosinality layout (it needs an "
            "unconditional RGB D with minibatch-stddev groups of 4 and 1 channel). Leave the "
            "discriminator out (`gan-adapt convert --no-discriminator`) or save it in "
            "gan-adapt's native format.")
    if config.conv_clamp is not None:
        warnings.warn("rosinality's StyleGAN2 has no conv_clamp: the exported discriminator "
                      "drops it", stacklevel=3)
    ours = discriminator.state_dict()
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for rule in discriminator_key_table(config.img_resolution):
        out[rule.ros] = (_blur(rule.rule) if rule.ours is None
                         else _export_tensor(ours[rule.ours], rule.rule, 1.0))
    return out


def export_rosinality(generator: StyleGAN2Generator, path: str | Path,
                      discriminator: StyleGAN2Discriminator | None = None) -> Path:
    """Write a rosinality ``.pt``: ``g_ema``, ``latent_avg`` ``[w_dim]`` and, if given, ``d``.

    rosinality's ``generate.py`` and the one-shot adaptation repositories built on it load it
    with ``Generator(size, style_dim, n_mlp, channel_multiplier)``: size is
    ``generator.img_resolution``, style_dim ``w_dim``, n_mlp the mapping depth and the
    multiplier :func:`rosinality_channel_multiplier` of the channel widths.
    """
    path = Path(path)
    ckpt: dict[str, object] = {"g_ema": generator_to_state(generator),
                               "latent_avg": generator.w_avg.detach().float().cpu().clone()}
    if discriminator is not None:
        ckpt["d"] = discriminator_to_state(discriminator)
    return files.torch_save(ckpt, path)
