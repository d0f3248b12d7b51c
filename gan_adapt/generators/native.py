"""gan-adapt's own checkpoint format: a folder with ``config.json`` and ``model.safetensors``.

::

    my-generator/
      config.json         {"format": "gan-adapt/stylegan2", "format_version": 1,
                           "generator": {GeneratorConfig}, "discriminator": {...} | null,
                           "metadata": {...}}
      model.safetensors   "generator.<name>" (and "discriminator.<name>") tensors

Safetensors holds nothing but tensors, so loading it cannot run code; the JSON file is all that
is needed to rebuild the networks and can be read by a person. Both files are written atomically
(:mod:`gan_adapt.io.atomic_files`), weights first, so an interrupted save never leaves a
half-written one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gan_adapt.errors import CheckpointError
from gan_adapt.generators.networks import (
    DiscriminatorConfig,
    GeneratorConfig,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
)
from gan_adapt.io import atomic_files as files
from gan_adapt.io.safe_paths import not_a_file_message, special_file_kind

FORMAT = "gan-adapt/stylegan2"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def _refuse_special(path: Path) -> None:
    kind = special_file_kind(path)
    if kind:
        raise CheckpointError(not_a_file_message(path, kind, "checkpoint file"))


def native_folder(path: Path) -> Path | None:
    """The native checkpoint folder that ``path`` (the folder or one of its two files) names."""
    folder = path if path.is_dir() else path.parent
    if path.is_dir() or path.name in (CONFIG_NAME, WEIGHTS_NAME):
        if (folder / CONFIG_NAME).is_file() or special_file_kind(folder / CONFIG_NAME):
            return folder  # (read_config refuses a config.json that is not a file)
    return None


def save(generator: StyleGAN2Generator, path: str | Path,
         discriminator: StyleGAN2Discriminator | None = None,
         metadata: dict[str, Any] | None = None) -> Path:
    """Save ``generator`` (and optionally ``discriminator``) as a native checkpoint folder.

    ``metadata`` (JSON-serialisable: e.g. the recipe, the source checkpoint) is stored as is.
    Returns the folder.
    """
    from safetensors.torch import save as save_tensors

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"generator.{k}": v.detach().float().cpu().contiguous()
               for k, v in generator.state_dict().items()}
    config: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION,
                              "generator": generator.config.to_dict(), "discriminator": None,
                              "metadata": metadata or {}}
    if discriminator is not None:
        tensors.update({f"discriminator.{k}": v.detach().float().cpu().contiguous()
                        for k, v in discriminator.state_dict().items()})
        config["discriminator"] = discriminator.config.to_dict()
    # Weights first, config last: a folder whose config.json exists is complete.
    files.write_bytes(folder / WEIGHTS_NAME, save_tensors(tensors, metadata={"format": FORMAT}))
    files.write_json(folder / CONFIG_NAME, config)
    return folder


def read_config(folder: Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a native checkpoint, checked for format and version."""
    _refuse_special(folder / CONFIG_NAME)
    from gan_adapt.io.json_files import read_json

    config = read_json(folder / CONFIG_NAME, what="generator config", error=CheckpointError)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{folder / CONFIG_NAME} is not a gan-adapt StyleGAN2 config "
                              f"(expected \"format\": \"{FORMAT}\").")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{folder} was written by a newer gan-adapt (format version "
                              f"{config['format_version']}); upgrade gan-adapt to read it.")
    return config


def read_tensors(folder: Path, prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under ``prefix`` (``"generator."`` / ``"discriminator."``), prefix removed."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = folder / WEIGHTS_NAME
    _refuse_special(path)
    if not path.is_file():
        raise CheckpointError(f"{folder} has {CONFIG_NAME} but no {WEIGHTS_NAME}.")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} cannot be read ({exc}); it is truncated or corrupt."
                              ) from None
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def generator_parts(folder: Path) -> tuple[GeneratorConfig, dict[str, torch.Tensor]]:
    config = read_config(folder)
    try:
        g_config = GeneratorConfig.from_dict(config["generator"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder / CONFIG_NAME}: invalid generator config ({exc})."
                              ) from None
    return g_config, read_tensors(folder, "generator.")


def discriminator_parts(folder: Path) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]] | None:
    config = read_config(folder)
    if not config.get("discriminator"):
        return None
    try:
        d_config = DiscriminatorConfig.from_dict(config["discriminator"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder / CONFIG_NAME}: invalid discriminator config ({exc})."
                              ) from None
    return d_config, read_tensors(folder, "discriminator.")
