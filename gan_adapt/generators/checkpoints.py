"""Finding, recognising and loading StyleGAN2 checkpoints.

``load(path_or_name)`` accepts a local path, a shipped model's name or a model-zoo name,
resolved by one rule (:func:`resolve`, recorded in a run's ``run.json``): a string that is
exactly a shipped or zoo name *is* that model, always, and anything else is a path. A local
file or folder of the same name never stands in for the sha256-checked model (a note says it
is not used); write ``./portraits-stylegan2-32`` to mean the local one. The format is
recognised from the content, never from the file name:

* a folder (or its ``config.json`` / ``model.safetensors``) with a gan-adapt ``config.json``:
  the native format (:mod:`.native`);
* a zip archive or a legacy ``torch.save`` file: read with ``torch.load(weights_only=True)``,
  then recognised by its keys: a rosinality checkpoint (``g_ema`` / ``g`` / ``d``), a bare
  rosinality or NVlabs-named state dict, or a dict of NVlabs-named state dicts
  (``G_ema`` / ``G`` / ``D``);
* any other pickle: an NVlabs network pickle, read by the restricted unpickler
  (:mod:`.safe_pickle`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gan_adapt.errors import CheckpointError
from gan_adapt.generators import native, nvlabs, rosinality
from gan_adapt.generators.dry_build import expected_shapes
from gan_adapt.generators.networks import (
    DiscriminatorConfig,
    GeneratorConfig,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
)
from gan_adapt.io.safe_paths import not_a_file_message, special_file_kind
from gan_adapt.weights import safe_pickle, zoo

_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."
_ZIP_MAGIC = b"PK\x03\x04"

#: ``which`` spellings -> role ("ema": the EMA generator used for inference, "train": the
#: generator being trained).
_WHICH = {"g_ema": "ema", "G_ema": "ema", "ema": "ema", "g": "train", "G": "train"}
_ROLE_KEYS = {"g_ema": "ema", "G_ema": "ema", "g": "train", "G": "train", "d": "d", "D": "d"}

DEFAULT_D_REASON = ("gan-adapt needs the source discriminator for adversarial fine-tuning "
                    "(e.g. OneShotCLIP's global and patch discriminators)")

GeneratorParts = tuple[GeneratorConfig, dict[str, torch.Tensor]]
DiscriminatorParts = tuple[DiscriminatorConfig, dict[str, torch.Tensor]]


@dataclass
class CheckpointContents:
    """What a checkpoint file holds, converted to gan-adapt configs and state dicts."""

    path: Path
    format: str  # "native", "rosinality", "nvlabs-pickle" or "nvlabs-state-dict"
    generators: dict[str, GeneratorParts] = field(default_factory=dict)  # role -> parts
    discriminator: DiscriminatorParts | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def model_name_kind(value: str | Path) -> str | None:
    """``"shipped"`` or ``"zoo"`` when ``value`` is a string that is exactly the name of a
    shipped model or a model-zoo entry; None for anything else (a path, ``./name``, a Path)."""
    from gan_adapt.weights import shipped

    if not isinstance(value, str):
        return None
    if shipped.lookup(value) is not None:
        return "shipped"
    return "zoo" if zoo.lookup(value) is not None else None


def warn_if_shadowed(name: str, local: Path) -> None:
    """A note when a local file or folder is named like the model ``name`` stands for: it is
    not used (the name always means the checked model), and how to use it instead."""
    import warnings

    try:
        exists = local.exists() or local.is_symlink()
    except (OSError, ValueError):
        return
    if exists:
        kind = model_name_kind(name) or "named"
        warnings.warn(f"checkpoint {name!r} means the {kind} model of that name (sha256-checked); "
                      f"the local {local} of the same name is not used. Write './{name}' (or an "
                      "absolute path) to use the local one.", stacklevel=3)


def describe_source(value: str | Path, base_dir: Path | None = None) -> str:
    """Where a checkpoint value is read from, as :func:`resolve` decides (for ``run.json``):
    ``shipped:NAME``, ``zoo:NAME`` or ``path:/absolute/path``."""
    kind = model_name_kind(value)
    if kind is not None:
        return f"{kind}:{value}"
    path = Path(value).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    return f"path:{path.resolve()}"


def resolve(path_or_name: str | Path) -> Path:
    """The file or folder a checkpoint value stands for.

    1. A string that is exactly a shipped model's name (:mod:`gan_adapt.weights.shipped`) is that
       model, its files sha256-checked; a model-zoo name is the cached (downloaded on first
       use) zoo checkpoint. A local path of the same name is not used (a note says so).
    2. Anything else is a local path (``./name`` is always a path).
    """
    from gan_adapt.weights import shipped

    kind = model_name_kind(path_or_name)
    if kind is not None:
        warn_if_shadowed(str(path_or_name), Path(path_or_name))
        return shipped.path(str(path_or_name)) if kind == "shipped" \
            else zoo.fetch(str(path_or_name))
    path = Path(path_or_name).expanduser()
    if path.exists():
        return path
    raise CheckpointError(
        f"{path} does not exist, and {str(path_or_name)!r} is not a known checkpoint name. "
        f"Give the path of a checkpoint file or folder, or one of: "
        f"{', '.join(shipped.names('generator') + zoo.names())}.")


def sniff(path: Path) -> str:
    """The container format of ``path``: ``native``, ``torch`` or ``pickle``."""
    if native.native_folder(path) is not None:
        return "native"
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder without a gan-adapt {native.CONFIG_NAME}; "
                              "give the checkpoint file itself.")
    kind = special_file_kind(path)
    if kind:
        raise CheckpointError(not_a_file_message(path, kind, "checkpoint"))
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read ({exc}).") from None
    if not head:
        raise CheckpointError(f"{path} is empty (0 bytes): an interrupted download or copy? "
                              "Fetch the checkpoint again.")
    if head.startswith(_ZIP_MAGIC) or head.startswith(_TORCH_LEGACY_MAGIC):
        return "torch"
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    if path.suffix == ".safetensors":
        raise CheckpointError(
            f"{path} is a bare safetensors file. gan-adapt's native checkpoints are a folder "
            f"holding {native.CONFIG_NAME} next to {native.WEIGHTS_NAME}; keep the two together "
            "and give the folder.")
    if head.lstrip().lower().startswith((b"<!doctype", b"<html")):
        raise CheckpointError(f"{path} is a web page (HTML), not a checkpoint: the download "
                              "returned an error or login page. Download the file again.")
    raise CheckpointError(
        f"{path} is not a checkpoint gan-adapt can read: it is neither a PyTorch file (.pt), "
        "an NVlabs network pickle (.pkl) nor a gan-adapt folder. It may be corrupt or of "
        "another kind entirely.")


def read_checkpoint(path_or_name: str | Path) -> CheckpointContents:
    """Open a checkpoint (path or zoo name) and convert everything in it."""
    path = resolve(path_or_name)
    kind = sniff(path)
    try:
        if kind == "native":
            return _read_native(native.native_folder(path))
        if kind == "torch":
            return _read_torch(path, safe_pickle.torch_load(path))
        return _read_pickle(path)
    except CheckpointError:
        raise
    except Exception as exc:
        # The file's content is untrusted input: whatever shape it takes, a user gets a
        # CheckpointError (GAN_ADAPT_DEBUG=1 shows the cause). Fuzzing found such files.
        raise CheckpointError(
            f"{path} could not be interpreted as a StyleGAN2 checkpoint ({type(exc).__name__}: "
            f"{exc}); it is damaged, or a variant gan-adapt does not read.") from exc


def _read_native(folder: Path) -> CheckpointContents:
    config = native.read_config(folder)
    contents = CheckpointContents(folder, "native", metadata=config.get("metadata") or {})
    contents.generators["ema"] = native.generator_parts(folder)
    contents.discriminator = native.discriminator_parts(folder)
    return contents


def _read_pickle(path: Path) -> CheckpointContents:
    source = str(path)
    parts = nvlabs.network_pickle_parts(safe_pickle.load_pickle(path), source)
    contents = CheckpointContents(path, "nvlabs-pickle")
    for key, record in parts.items():
        role = _ROLE_KEYS[key]
        if role == "d":
            contents.discriminator = nvlabs.discriminator_from_record(record, f"{source} [{key}]")
        else:
            contents.generators[role] = nvlabs.generator_from_record(record, f"{source} [{key}]")
    return contents


def _is_state_dict(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def _strip_module_prefix(state: Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
    # Saved from a DataParallel / DistributedDataParallel wrapper.
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def _classify(state: Mapping[str, torch.Tensor]) -> str | None:
    if rosinality.is_generator_state(state):
        return "rosinality-g"
    if rosinality.is_discriminator_state(state):
        return "rosinality-d"
    if "synthesis.b4.const" in state:
        return "nvlabs-g"
    if "b4.out.weight" in state:
        return "nvlabs-d"
    return None


def _read_torch(path: Path, obj: Any) -> CheckpointContents:
    source = str(path)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source} holds a {type(obj).__name__}, not a dict of state "
                              "dicts; it is not a StyleGAN2 checkpoint.")
    # Either a dict of state dicts (g_ema / g / d, or G_ema / G / D), or one bare state dict.
    entries = {key: _strip_module_prefix(obj[key]) for key in _ROLE_KEYS
               if key in obj and _is_state_dict(obj[key])}
    if not entries and _is_state_dict(obj):
        state = _strip_module_prefix(obj)
        kind = _classify(state)
        entries = {("d" if kind and kind.endswith("-d") else "g_ema"): state}
    if not entries:
        raise CheckpointError(f"{source}: {_describe_foreign(obj)}")
    contents = CheckpointContents(path, "rosinality")
    for key, state in entries.items():
        kind = _classify(state)
        where = f"{source} [{key}]" if key in obj else source
        role = _ROLE_KEYS[key]
        if kind is None or (role == "d") != kind.endswith("-d"):
            raise CheckpointError(f"{where}: {_describe_foreign(state)}")
        if kind.startswith("nvlabs"):
            contents.format = "nvlabs-state-dict"
        if kind == "rosinality-g":
            contents.generators[role] = rosinality.generator_from_state(state, where)
        elif kind == "rosinality-d":
            contents.discriminator = rosinality.discriminator_from_state(state, where)
        elif kind == "nvlabs-g":
            state = {k: v for k, v in state.items() if not k.endswith("resample_filter")}
            contents.generators[role] = (nvlabs.generator_config_from_state(state), dict(state))
        else:
            state = {k: v for k, v in state.items() if not k.endswith("resample_filter")}
            contents.discriminator = (nvlabs.discriminator_config_from_state(state), dict(state))
    latent_avg = obj.get("latent_avg")
    if isinstance(latent_avg, torch.Tensor) and "ema" in contents.generators:
        # The mean w of g_ema (converted checkpoints: [w_dim]; some tools save [1, w_dim]).
        config, state = contents.generators["ema"]
        if latent_avg.numel() % config.w_dim:
            raise CheckpointError(f"{source}: latent_avg has shape {list(latent_avg.shape)}, "
                                  f"which does not fit w_dim={config.w_dim}")
        state["mapping.w_avg"] = latent_avg.float().reshape(-1, config.w_dim).mean(dim=0)
    return contents


_FOREIGN_HINTS = [
    ("synthesis.input.affine.weight", "a StyleGAN3 generator (not supported yet)"),
    ("model.diffusion_model.", "a diffusion model"),
    ("visual.conv1.weight", "a CLIP model"),
    ("positional_embedding", "a transformer / CLIP model"),
    ("layer1.0.conv1.weight", "a ResNet-style classifier"),
    ("decoder.style.1.weight", "a pSp / e4e encoder checkpoint (its generator is under "
                               "`decoder.`)"),
    ("net.", "a network wrapper (e.g. LPIPS)"),
]


def _describe_foreign(obj: Mapping[str, Any]) -> str:
    keys = [str(k) for k in obj.keys()]
    nested = [f"{k}.{kk}" for k, v in obj.items() if isinstance(v, Mapping) for kk in v]
    what = "a checkpoint of another kind"
    for marker, description in _FOREIGN_HINTS:
        if any(k.startswith(marker) for k in keys + nested):
            what = description
            break
    if "state_dict" in keys and "epoch" in keys:
        what = "a training-framework checkpoint (e.g. PyTorch Lightning)"
    shown = ", ".join(keys[:6]) + (", ..." if len(keys) > 6 else "")
    return (f"this looks like {what}, not a StyleGAN2 generator: its keys are {shown}. "
            "Expected a rosinality stylegan2-pytorch file (keys g_ema / g / d holding "
            "`style.1.weight`, `input.input`, `convs.0.conv.weight`, ...), an NVlabs "
            "stylegan2-ada-pytorch network pickle, or a gan-adapt checkpoint folder.")


# --------------------------------------------------------------------------------------------
# Public loading API.


def _role(which: str) -> str:
    try:
        return _WHICH[which]
    except KeyError:
        raise CheckpointError(f"which={which!r} is not a generator name; use 'g_ema' (the EMA "
                              "generator, for inference) or 'g' (the training generator); "
                              "'G_ema' and 'G' mean the same.") from None


def build_generator(config: GeneratorConfig, state: dict[str, torch.Tensor],
                    source: str = "checkpoint") -> StyleGAN2Generator:
    """A generator from a config and a gan-adapt state dict (``mapping.w_avg`` optional:
    estimated with :meth:`~StyleGAN2Generator.mean_latent` when absent)."""
    estimate = "mapping.w_avg" not in state
    if estimate:
        state = {**state, "mapping.w_avg": torch.zeros(config.w_dim)}
    # The config may declare far more than the file holds: compare shapes before allocating.
    _check_shapes(expected_shapes(StyleGAN2Generator, config, source), state, source,
                  "generator")
    generator = StyleGAN2Generator(config)
    _load_state(generator, state, source, "generator")
    if estimate:
        generator.w_avg = generator.mean_latent()
    generator.checkpoint_info["w_avg_estimated"] = estimate
    return generator.eval()


def build_discriminator(config: DiscriminatorConfig, state: dict[str, torch.Tensor],
                        source: str = "checkpoint") -> StyleGAN2Discriminator:
    """A discriminator from a config and a gan-adapt state dict."""
    _check_shapes(expected_shapes(StyleGAN2Discriminator, config, source), state, source,
                  "discriminator")
    discriminator = StyleGAN2Discriminator(config)
    _load_state(discriminator, state, source, "discriminator")
    return discriminator.eval()


def _check_shapes(expected: Mapping[str, torch.Size] | None, state: dict[str, torch.Tensor],
                  source: str, what: str) -> None:
    """Refuse ``state`` unless it has exactly the tensors, and shapes, of ``expected``."""
    if expected is None:
        return
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    bad = [f"{k} {list(state[k].shape)} (expected {list(shape)})"
           for k, shape in expected.items() if k in state and state[k].shape != shape]
    if missing or extra or bad:
        details = "; ".join(f"{label}: {', '.join(items[:4])}" for label, items in
                            (("missing", missing), ("unexpected", extra), ("wrong shape", bad))
                            if items)
        raise CheckpointError(f"{source}: the tensors do not fit a StyleGAN2 {what} "
                              f"({details}).")


def _load_state(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str,
                what: str) -> None:
    _check_shapes({k: v.shape for k, v in module.state_dict().items()}, state, source, what)
    # A network saved after it diverged (or a damaged file) would only fail later, as a NaN loss
    # at the first step; say so now, naming the tensors.
    non_finite = [k for k, v in state.items()
                  if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if non_finite:
        raise CheckpointError(f"{source}: the {what}'s tensor(s) {', '.join(non_finite[:4])} hold "
                              "NaN or infinite values: the file is damaged, or the network had "
                              "diverged when it was saved.")
    module.load_state_dict(state)


def generator_from(contents: CheckpointContents, which: str = "g_ema") -> StyleGAN2Generator:
    """Build the ``which`` generator of opened checkpoint ``contents`` (on the CPU)."""
    role = _role(which)
    if role not in contents.generators:
        have = {"ema": "g_ema", "train": "g"}
        present = ", ".join(have[r] for r in contents.generators) or "no generator"
        raise CheckpointError(f"{contents.path} has no {which!r} generator (it holds: "
                              f"{present}). Pass which='g_ema' or which='g' accordingly.")
    config, state = contents.generators[role]
    generator = build_generator(config, state, str(contents.path))
    generator.checkpoint_info.update(path=str(contents.path), format=contents.format,
                                     which=which)
    return generator


def discriminator_from(contents: CheckpointContents, reason: str | None = None
                       ) -> StyleGAN2Discriminator:
    """Build the discriminator of opened checkpoint ``contents`` (on the CPU)."""
    if contents.discriminator is None:
        raise CheckpointError(
            f"{contents.path} has no discriminator; {reason or DEFAULT_D_REASON}. Use a full "
            "checkpoint: a rosinality training/converted file with a 'd' entry, an NVlabs "
            "network-snapshot pickle (with 'D'), or a gan-adapt folder saved with its "
            "discriminator.")
    return build_discriminator(*contents.discriminator, source=str(contents.path))


def load(path_or_name: str | Path, which: str = "g_ema",
         device: str | torch.device = "cpu") -> StyleGAN2Generator:
    """Load a StyleGAN2 generator from any supported checkpoint (path or zoo name).

    ``which`` picks the EMA generator (``"g_ema"``, the default, also ``"G_ema"``) or the
    training one (``"g"`` / ``"G"``) in files that hold both. The result is in eval mode on
    ``device``; ``checkpoint_info`` records where it came from.
    """
    _role(which)  # a bad `which` is reported before the file is read
    return generator_from(read_checkpoint(path_or_name), which).to(device)


def load_discriminator(path_or_name: str | Path, device: str | torch.device = "cpu", *,
                       reason: str | None = None) -> StyleGAN2Discriminator:
    """Load the StyleGAN2 discriminator of a checkpoint (path or zoo name).

    ``reason`` completes the error raised when the file has none ("the recipe needs one
    because ...").
    """
    return discriminator_from(read_checkpoint(path_or_name), reason).to(device)
