"""NVlabs ``stylegan2-ada-pytorch`` network pickles -> gan-adapt networks.

A network pickle (``network-snapshot-*.pkl``, the official ``ffhq.pkl`` ...) is a dict with
``G``, ``D``, ``G_ema`` (and ``training_set_kwargs``, ``augment_pipe``), each a persistent-object
record (see :mod:`.safe_pickle`). gan-adapt's networks use NVlabs' own parameter names, so the
tensors map one to one; only the per-layer copies of the resampling filter are dropped (after a
check that they hold the standard [1, 3, 3, 1] filter). The architecture is read from the
records' attributes and the tensor shapes.

The same naming also makes a plain NVlabs-style state dict (``G.state_dict()`` saved with
``torch.save``) loadable: :func:`generator_config_from_state` infers its architecture.
"""

from __future__ import annotations

from typing import Any

import torch

from gan_adapt.errors import CheckpointError
from gan_adapt.generators import ops
from gan_adapt.generators.networks import DiscriminatorConfig, GeneratorConfig
from gan_adapt.weights.safe_pickle import PersistentRecord, check_module_tree

_G_CLASSES = {"Generator"}
_D_CLASSES = {"Discriminator"}


def _fail(source: str, what: str) -> CheckpointError:
    return CheckpointError(f"{source}: {what}")


def _split_filters(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Drop the ``*resample_filter`` buffers after checking they are the standard filter."""
    expected = ops.fir_kernel()
    out = {}
    for name, t in state.items():
        if name.endswith("resample_filter"):
            if t.shape != expected.shape or not torch.allclose(t.float(), expected, atol=1e-6):
                raise _fail(source, f"{name} is not the standard [1, 3, 3, 1] resampling "
                                    "filter; gan-adapt supports only that filter")
            continue
        out[name] = t
    return out


def _mapping_layers(state: dict[str, torch.Tensor], prefix: str) -> int:
    n = 0
    while f"{prefix}fc{n}.weight" in state:
        n += 1
    return n


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def generator_config_from_state(state: dict[str, torch.Tensor], *, conv_clamp: float | None = None,
                                mapping_lr: float = 0.01) -> GeneratorConfig:
    """Infer a :class:`GeneratorConfig` from NVlabs-named tensors (``synthesis.b4.const`` ...)."""
    if "synthesis.b4.const" not in state:
        raise CheckpointError("not an NVlabs-style generator state dict (no synthesis.b4.const)")
    channels = {}
    res = 4
    while f"synthesis.b{res}.conv1.weight" in state:
        channels[res] = int(state[f"synthesis.b{res}.conv1.weight"].shape[0])
        res *= 2
    fc0 = state["mapping.fc0.weight"]
    n_layers = _mapping_layers(state, "mapping.")
    w_dim = int(state[f"mapping.fc{n_layers - 1}.weight"].shape[0])
    c_dim = int(state["mapping.embed.weight"].shape[1]) if "mapping.embed.weight" in state else 0
    embed = int(state["mapping.embed.weight"].shape[0]) if c_dim else 0
    hidden = int(fc0.shape[0]) if n_layers > 1 else w_dim
    return GeneratorConfig(
        img_resolution=res // 2, channels=channels, z_dim=int(fc0.shape[1]) - embed,
        w_dim=w_dim, c_dim=c_dim,
        img_channels=int(state[f"synthesis.b{res // 2}.torgb.weight"].shape[0]),
        mapping_layers=n_layers, mapping_hidden=None if hidden == w_dim else hidden,
        embed_features=None if embed in (0, w_dim) else embed, mapping_lr=mapping_lr,
        conv_clamp=conv_clamp)


def discriminator_config_from_state(state: dict[str, torch.Tensor], *,
                                    conv_clamp: float | None = None,
                                    mbstd_group_size: int | None = 4,
                                    mapping_lr: float = 0.01) -> DiscriminatorConfig:
    """Infer a :class:`DiscriminatorConfig` from NVlabs-named D tensors (``b256.conv0.weight``)."""
    first = [k for k in state if k.endswith(".fromrgb.weight")]
    if len(first) != 1 or "b4.out.weight" not in state:
        raise CheckpointError("not an NVlabs-style discriminator state dict")
    res = int(first[0].split(".")[0][1:])
    channels = {4: int(state["b4.conv.weight"].shape[0])}
    r = res
    while r > 4:
        channels[r] = int(state[f"b{r}.conv0.weight"].shape[0])
        r //= 2
    c4 = channels[4]
    c_dim = int(state["mapping.embed.weight"].shape[1]) if "mapping.embed.weight" in state else 0
    mbstd = int(state["b4.conv.weight"].shape[1]) - c4
    return DiscriminatorConfig(
        img_resolution=res, channels=channels, c_dim=c_dim,
        img_channels=int(state[first[0]].shape[1]),
        cmap_dim=int(state["b4.out.weight"].shape[0]) if c_dim else None,
        mapping_layers=_mapping_layers(state, "mapping.") if c_dim else 8,
        mapping_lr=mapping_lr, mbstd_group_size=mbstd_group_size, mbstd_num_channels=mbstd,
        conv_clamp=conv_clamp)


def _find(record: PersistentRecord, *path: str) -> PersistentRecord | None:
    for name in path:
        record = record.modules.get(name)
        if record is None:
            return None
    return record


def generator_from_record(record: PersistentRecord, source: str
                          ) -> tuple[GeneratorConfig, dict[str, torch.Tensor]]:
    """Config and gan-adapt state dict of a recorded NVlabs ``Generator``."""
    if record.class_name not in _G_CLASSES:
        raise _fail(source, f"expected a Generator record, found {record.class_name!r}")
    synthesis = _find(record, "synthesis")
    mapping = _find(record, "mapping")
    if synthesis is None or mapping is None:
        raise _fail(source, "the Generator record has no synthesis/mapping network")
    if "input" in synthesis.modules or any(k.startswith("L") and "_" in k
                                           for k in synthesis.modules):
        raise _fail(source, "this is a StyleGAN3 generator (alias-free synthesis layers); "
                            "gan-adapt supports StyleGAN2 and StyleGAN2-ADA networks only")
    blocks = [b for name, b in synthesis.modules.items() if name.startswith("b")]
    for block in blocks:
        arch = block.attr("architecture", "skip")
        if arch != "skip":
            raise _fail(source, f"the generator uses the {arch!r} architecture; gan-adapt "
                                "supports the standard 'skip' generator only")
        for layer in block.modules.values():
            if layer.class_name == "SynthesisLayer":
                if layer.attr("activation", "lrelu") != "lrelu":
                    raise _fail(source, "only leaky-ReLU synthesis layers are supported")
                if not layer.attr("use_noise", True):
                    raise _fail(source, "generators without noise inputs are not supported")
    fc0 = _find(mapping, "fc0")
    if fc0 is not None and fc0.attr("activation", "lrelu") != "lrelu":
        raise _fail(source, "only leaky-ReLU mapping networks are supported")
    clamps = {_float_or_none(layer.attr("conv_clamp"))
              for block in blocks for layer in block.modules.values()
              if layer.class_name in ("SynthesisLayer", "ToRGBLayer")}
    if len(clamps) > 1:
        raise _fail(source, f"layers use different conv_clamp values {sorted(map(str, clamps))}")
    mapping_lr = float(fc0.attr("bias_gain", 0.01)) if fc0 is not None else 0.01
    state = _split_filters(record.tensors(), source)
    try:
        config = generator_config_from_state(state, conv_clamp=clamps.pop() if clamps else None,
                                             mapping_lr=mapping_lr)
    except (KeyError, IndexError, ValueError) as exc:
        raise _fail(source, f"the generator's tensors do not form a StyleGAN2 ({exc})") from None
    if int(record.attr("z_dim", config.z_dim)) != config.z_dim:
        raise _fail(source, "z_dim recorded in the pickle does not match its tensors")
    return config, state


def discriminator_from_record(record: PersistentRecord, source: str
                              ) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]]:
    """Config and gan-adapt state dict of a recorded NVlabs ``Discriminator``."""
    if record.class_name not in _D_CLASSES:
        raise _fail(source, f"expected a Discriminator record, found {record.class_name!r}")
    blocks = [b for name, b in record.modules.items() if name.startswith("b") and name != "b4"]
    for block in blocks:
        arch = block.attr("architecture", "resnet")
        if arch != "resnet":
            raise _fail(source, f"the discriminator uses the {arch!r} architecture; gan-adapt "
                                "supports the standard 'resnet' discriminator only")
    clamps = {_float_or_none(layer.attr("conv_clamp"))
              for block in blocks for name, layer in block.modules.items() if name != "skip"}
    epilogue = _find(record, "b4")
    if epilogue is None:
        raise _fail(source, "the Discriminator record has no 4x4 epilogue (b4)")
    mbstd = _find(epilogue, "mbstd")
    group = mbstd.attr("group_size", 4) if mbstd is not None else None
    mapping_fc0 = _find(record, "mapping", "fc0")
    state = _split_filters(record.tensors(), source)
    try:
        config = discriminator_config_from_state(
            state, conv_clamp=clamps.pop() if len(clamps) == 1 else None,
            mbstd_group_size=None if group is None else int(group),
            mapping_lr=float(mapping_fc0.attr("bias_gain", 0.01)) if mapping_fc0 else 0.01)
    except (KeyError, IndexError, ValueError) as exc:
        raise _fail(source, f"the discriminator's tensors do not form a StyleGAN2 D ({exc})"
                    ) from None
    if len(clamps) > 1:
        raise _fail(source, "discriminator layers use different conv_clamp values")
    if mbstd is None and config.mbstd_num_channels:
        raise _fail(source, "the discriminator head has no minibatch-stddev record")
    return config, state


def network_pickle_parts(obj: Any, source: str) -> dict[str, PersistentRecord]:
    """The network records of an unpickled NVlabs file: ``{"G": ..., "G_ema": ..., "D": ...}``
    (whichever exist). A pickle of a bare Generator counts as ``G_ema``."""
    if isinstance(obj, PersistentRecord):
        check_module_tree(obj, source)
        if obj.class_name in _G_CLASSES:
            return {"G_ema": obj}
        if obj.class_name in _D_CLASSES:
            return {"D": obj}
        raise _fail(source, f"the pickle holds a {obj.class_name!r}, not a StyleGAN2 network")
    if not isinstance(obj, dict):
        raise _fail(source, f"the pickle holds a {type(obj).__name__}, not a network snapshot")
    parts = {k: v for k, v in obj.items() if k in ("G", "G_ema", "D")
             and isinstance(v, PersistentRecord)}
    for key, record in parts.items():
        check_module_tree(record, f"{source} [{key}]")
    if not parts:
        keys = ", ".join(map(str, list(obj)[:8]))
        raise _fail(source, f"the pickle has no G/G_ema/D networks (keys: {keys}); expected an "
                            "NVlabs network snapshot")
    return parts
