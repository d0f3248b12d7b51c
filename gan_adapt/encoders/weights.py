"""Where encoder and LPIPS weights come from, and how a weights file is read safely.

Everything goes through :mod:`gan_adapt.weights.download`: one cache (``$GAN_ADAPT_HOME``), one
download routine, one offline message naming the URL and the exact path to place the file at.
open_clip, timm and torchvision are never allowed to download anything themselves.

* CLIP: open_clip's own table of pretrained tags says where each (architecture, tag) lives; we
  prefer the Hugging Face ``open_clip_model.safetensors`` file (safetensors cannot run code). The
  files we ship by default are pinned here to a revision and a sha256.
* DINO / DINOv2: timm's pretrained configs name a Hugging Face repo holding ``model.safetensors``.
* LPIPS: the ``lpips`` package ships its linear heads; the backbones are torchvision's ImageNet
  files, whose names carry the first 8 hex digits of their sha256 (checked after download).

Hashes and sizes come from public records of these exact files (noted per entry); an entry
without them is trusted on first use: the hub records the file's sha256 and size the first time
it enters the cache and checks them on every later load (see :mod:`gan_adapt.weights.manifest`).
"""

from __future__ import annotations

import difflib
import pickle
from pathlib import Path
from typing import Any

from gan_adapt.errors import CheckpointError, GanAdaptError, UnsafeFileError
from gan_adapt.io.safe_paths import not_a_file_message, special_file_kind
from gan_adapt.weights.download import KnownWeights, ensure
from gan_adapt.weights.script_archive import is_script_archive, read_script_tensors

_HF = "https://huggingface.co"


def _hf_file(repo: str, filename: str, revision: str = "main") -> str:
    return f"{_HF}/{repo}/resolve/{revision}/{filename}"


# -- CLIP (open_clip) ---------------------------------------------------------------------------

#: Pinned CLIP weights, keyed by (open_clip architecture, pretrained tag).
CLIP_WEIGHTS: dict[tuple[str, str], KnownWeights] = {
    ("ViT-B-32", "openai"): KnownWeights(
        name="clip:ViT-B-32/openai",
        url=_hf_file("timm/vit_base_patch32_clip_224.openai", "open_clip_model.safetensors",
                     "a6f597a30f7b82c51704746581f9a4e41421e878"),
        filename="ViT-B-32-openai.safetensors",
        sha256="e6d1bd7789aa45192b3bf90570a789b478bae1b74ebcce7eddd908e83a2b7c31",
        size=605_143_284,
        subdir="clip", format="open_clip-safetensors",
        description="OpenAI CLIP ViT-B/32 (the paper's encoder), 605,143,284 bytes",
    ),
    ("ViT-B-16", "openai"): KnownWeights(
        name="clip:ViT-B-16/openai",
        url=_hf_file("timm/vit_base_patch16_clip_224.openai", "open_clip_model.safetensors",
                     "977e3dd0ec55ab8da155f2fbeb6b5f54948b6e3d"),
        filename="ViT-B-16-openai.safetensors",
        sha256="4b8699299b1e8997753c64b052ba32031449d5d853f55a039148560ee02b820f",
        size=598_516_980,
        subdir="clip", format="open_clip-safetensors",
        description="OpenAI CLIP ViT-B/16, 598,516,980 bytes",
    ),
    ("ViT-L-14", "openai"): KnownWeights(
        name="clip:ViT-L-14/openai",
        url=_hf_file("timm/vit_large_patch14_clip_224.openai", "open_clip_model.safetensors"),
        filename="ViT-L-14-openai.safetensors",
        sha256="9ce2e8a8ebfff3793d7d375ad6d3c35cb9aebf3de7ace0fc7308accab7cd207e",
        size=1_710_517_724,
        subdir="clip", format="open_clip-safetensors",
        description="OpenAI CLIP ViT-L/14, 1,710,517,724 bytes",
    ),
    ("ViT-B-32", "laion2b_s34b_b79k"): KnownWeights(
        name="clip:ViT-B-32/laion2b_s34b_b79k",
        url=_hf_file("laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "open_clip_model.safetensors"),
        filename="ViT-B-32-laion2b_s34b_b79k.safetensors",
        sha256="ac4f8c4b88af6d963118cbf40ad93176d092abbedfcb752601ae1866352656e6",
        size=605_143_316,
        subdir="clip", format="open_clip-safetensors",
        description="OpenCLIP ViT-B/32 trained on LAION-2B, 605,143,316 bytes",
    ),
}


def _clean_tag(tag: str) -> str:
    return tag.lower().replace("-", "_")  # open_clip's spelling of tags


def clip_weights(model: str, tag: str) -> KnownWeights:
    """The weights file of an open_clip (architecture, pretrained tag) pair.

    Pinned entries come from :data:`CLIP_WEIGHTS`; any other pair open_clip knows is derived
    from open_clip's table (unpinned). Raises GanAdaptError for an unknown pair.
    """
    base = model.removesuffix("-quickgelu")  # same weights, only the activation flag differs
    pinned = CLIP_WEIGHTS.get((base, _clean_tag(tag)))
    if pinned is not None:
        return pinned
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model)
        known = f"known tags: {', '.join(tags)}" if tags else "it has no pretrained tags"
        raise GanAdaptError(f"open_clip has no pretrained tag '{tag}' for '{model}' ({known}). "
                            "Use one of those, pretrained = none for random weights, or a "
                            "checkpoint file.")
    stem = f"{base}-{_clean_tag(tag)}"
    hf_hub = (cfg.get("hf_hub") or "").strip("/")
    if hf_hub:
        parts = hf_hub.split("/")  # "org/repo" or "org/repo/file"
        repo, filename = "/".join(parts[:2]), "/".join(parts[2:]) or "open_clip_model.safetensors"
        return KnownWeights(name=f"clip:{model}/{tag}", url=_hf_file(repo, filename),
                            filename=stem + Path(filename).suffix, subdir="clip",
                            format="open_clip", description="derived from open_clip; not pinned")
    url = cfg.get("url") or ""
    if url:
        sha = url.split("/")[-2] if "openaipublic" in url else None  # OpenAI put it in the path
        return KnownWeights(name=f"clip:{model}/{tag}", url=url, sha256=sha,
                            filename=stem + Path(url).suffix, subdir="clip", format="open_clip",
                            description="derived from open_clip" + ("" if sha else "; not pinned"))
    raise GanAdaptError(f"open_clip lists no download location for '{model}' / '{tag}'; "
                        "download the weights yourself and set checkpoint = \"path/to/file\".")


def check_clip_model(model: str) -> None:
    """Raise GanAdaptError (with close matches) when open_clip has no architecture ``model``."""
    import open_clip

    names = open_clip.list_models()
    # Only open_clip's own table: its `local-dir:` / `hf-hub:` names would make it read a
    # local folder or download, bypassing gan-adapt's checked weights.
    if model in names and open_clip.get_model_config(model) is not None:
        return
    close = difflib.get_close_matches(model, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise GanAdaptError(f"open_clip has no architecture named '{model}'.{hint} "
                        "See open_clip.list_models(), or give model_cfg for a custom one.")


# -- DINO / DINOv2 (timm) ------------------------------------------------------------------------

def _dino(name: str, sha256: str | None = None, note: str = "") -> KnownWeights:
    pinned = "" if sha256 else "; not pinned"
    return KnownWeights(name=f"dino:{name}", url=_hf_file(f"timm/{name}", "model.safetensors"),
                        filename=f"{name}.safetensors", sha256=sha256, subdir="dino",
                        format="timm-safetensors", description=note + pinned)


#: Self-supervised ViTs on the Hugging Face hub (timm format), keyed by timm name with tag.
DINO_WEIGHTS: dict[str, KnownWeights] = {
    w.name.removeprefix("dino:"): w for w in (
        _dino("vit_small_patch16_224.dino", note="DINO ViT-S/16"),
        _dino("vit_base_patch16_224.dino", note="DINO ViT-B/16"),
        _dino("vit_small_patch8_224.dino", note="DINO ViT-S/8"),
        _dino("vit_base_patch8_224.dino", note="DINO ViT-B/8"),
        _dino("vit_small_patch14_dinov2.lvd142m",
              sha256="04d27f3400d059fc0cfd7d17dd1909a75bf3ea8fb3eeb48b97cb99e57ee20081",
              note="DINOv2 ViT-S/14"),
        _dino("vit_base_patch14_dinov2.lvd142m", note="DINOv2 ViT-B/14"),
        _dino("vit_large_patch14_dinov2.lvd142m", note="DINOv2 ViT-L/14"),
        _dino("vit_small_patch14_reg4_dinov2.lvd142m", note="DINOv2 ViT-S/14 with registers"),
        _dino("vit_base_patch14_reg4_dinov2.lvd142m", note="DINOv2 ViT-B/14 with registers"),
    )
}


def check_timm_model(model: str) -> None:
    """Raise GanAdaptError (with close matches) when timm has no architecture for ``model``."""
    import timm

    arch = model.split(".", 1)[0]
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise GanAdaptError(f"timm has no model named '{arch}'.{hint}")


def timm_full_name(model: str) -> str:
    """``arch`` or ``arch.tag`` -> ``arch.tag`` (timm's default tag); GanAdaptError if unknown."""
    import timm
    from timm.models import get_pretrained_cfg

    check_timm_model(model)
    cfg = get_pretrained_cfg(model)
    if cfg is None:
        tags = timm.list_pretrained(f"{model.split('.', 1)[0]}.*")
        raise GanAdaptError(f"timm has no pretrained weights '{model}'"
                            + (f"; known: {', '.join(tags)}" if tags else "") + ".")
    return f"{cfg.architecture}.{cfg.tag}" if cfg.tag else cfg.architecture


def dino_weights(model: str) -> KnownWeights:
    """The weights file of a timm model name (a catalog entry, else derived from timm's config)."""
    full = timm_full_name(model)
    if full in DINO_WEIGHTS:
        return DINO_WEIGHTS[full]
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(full)
    if cfg.hf_hub_id:
        filename = cfg.hf_hub_filename or "model.safetensors"
        return KnownWeights(name=f"dino:{full}", url=_hf_file(cfg.hf_hub_id, filename),
                            filename=full + Path(filename).suffix, subdir="dino",
                            format="timm", description="derived from timm; not pinned")
    if cfg.url:
        return KnownWeights(name=f"dino:{full}", url=cfg.url, filename=full + Path(cfg.url).suffix,
                            subdir="dino", format="timm",
                            description="derived from timm; not pinned")
    raise GanAdaptError(f"timm lists no download location for '{full}'; download the weights "
                        "yourself and set checkpoint = \"path/to/file\".")


# -- LPIPS backbones (torchvision ImageNet weights) --------------------------------------------

def _torchvision(net: str, filename: str) -> KnownWeights:
    return KnownWeights(name=f"lpips-backbone:{net}",
                        url=f"https://download.pytorch.org/models/{filename}", filename=filename,
                        subdir="lpips", format="torchvision-state-dict",
                        description="torchvision ImageNet weights; sha256 prefix in the file name, "
                                    "full hash and size recorded on first download")


#: ImageNet backbones of LPIPS, keyed by the ``lpips`` package's net name.
LPIPS_BACKBONES: dict[str, KnownWeights] = {
    "alex": _torchvision("alex", "alexnet-owt-7be5be79.pth"),
    "vgg": _torchvision("vgg", "vgg16-397923af.pth"),
    "squeeze": _torchvision("squeeze", "squeezenet1_1-b8a52dc0.pth"),
}


# -- fetching and reading -----------------------------------------------------------------------

def fetch(weights: KnownWeights) -> Path:
    """The cached file of ``weights`` (downloaded unless offline), checked by the hub against
    its pinned sha256, the sha256 prefix in its published name, or its first-use record."""
    return ensure(weights)


def read_state_dict(path: Path | str, what: str = "checkpoint") -> dict[str, Any]:
    """Read a state dict without running any pickled code.

    Accepts ``.safetensors``, plain ``torch.save`` state dicts (also wrapped in ``state_dict`` /
    ``model``, or with DataParallel's ``module.`` prefix) read with ``weights_only=True``, and
    TorchScript archives (OpenAI's original CLIP release), whose tensors are read by
    :mod:`gan_adapt.weights.script_archive` without compiling or running their code (never
    ``torch.jit.load``). Raises CheckpointError (UnsafeFileError for a file asking to run code).
    """
    import torch

    path = Path(path)
    kind = special_file_kind(path)
    if kind is not None:
        raise CheckpointError(not_a_file_message(path, kind, what))
    if not path.is_file():
        raise CheckpointError(f"The {what} file {path} does not exist.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        elif is_script_archive(path):
            state = read_script_tensors(path)
            for key in ("input_resolution", "context_length", "vocab_size"):
                state.pop(key, None)  # OpenAI's archives keep these ints next to the weights
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeFileError(f"The {what} file {path} is a pickle that asks to run code; it was "
                              f"not loaded ({str(exc).splitlines()[0]}).") from None
    except CheckpointError:
        raise  # already one line naming the file (a refusal, a damaged archive)
    except Exception as exc:  # noqa: BLE001 - any reader failure means an unusable file
        detail = str(exc).splitlines()[0] if str(exc) else "corrupt file"
        raise CheckpointError(f"The {what} file {path} cannot be read: "
                              f"{type(exc).__name__}: {detail}") from None
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not (isinstance(state, dict) and state and all(map(torch.is_tensor, state.values()))):
        raise CheckpointError(f"The {what} file {path} does not hold a state dict of tensors.")
    if all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state
