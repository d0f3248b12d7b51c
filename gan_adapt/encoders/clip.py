"""CLIP through open_clip: any architecture, any pretrained tag, or a local checkpoint file.

open_clip builds the network from its architecture config; the weights are always read by us
(:func:`gan_adapt.encoders.weights.read_state_dict`) from the gan-adapt cache or a user's file,
so open_clip never reaches for a hub. A custom architecture dict (``model_cfg``) builds models
that are not in open_clip's list, such as the tiny test model of :func:`tiny_clip_config`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_adapt.encoders.base import EncoderBase, freeze
from gan_adapt.encoders.provenance import WeightsSource, set_source
from gan_adapt.encoders.weights import check_clip_model, clip_weights, fetch, read_state_dict
from gan_adapt.errors import CheckpointError, GanAdaptError
from gan_adapt.weights import shipped

Precision = Literal["fp32", "fp16", "bf16"]
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipEncoder(EncoderBase):
    """A frozen open_clip model: image embeddings, patch embeddings and text embeddings."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, *, embed_dim: int,
                 mean: Sequence[float], std: Sequence[float], center_crop: bool = True,
                 name: str = "clip") -> None:
        size = model.visual.image_size
        size = size if isinstance(size, int) else size[0]
        super().__init__(input_size=size, embed_dim=embed_dim, mean=mean, std=std,
                         center_crop=center_crop, name=name)
        self.model = freeze(model)
        self.tokenizer = tokenizer  # open_clip tokenizer: list[str] -> LongTensor [T, context]

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def encode(self, pixels: Tensor) -> Tensor:
        return self.model.encode_image(pixels.to(self.dtype))

    def embed_text(self, texts: Sequence[str]) -> Tensor:
        if isinstance(texts, str):
            texts = [texts]
        tokens = self.tokenizer(list(texts)).to(self.mean.device)
        with torch.no_grad():  # text targets are constants: no graph through the text tower
            return F.normalize(self.model.encode_text(tokens).float(), dim=-1)


def build_clip(model: str = "ViT-B-32", pretrained: str | None = "openai", *,
               checkpoint: str | Path | None = None, model_cfg: dict | None = None,
               quick_gelu: bool | None = None, precision: Precision = "fp32",
               image_size: int | None = None,
               device: torch.device | str = "cpu") -> ClipEncoder:
    """Build a frozen CLIP encoder.

    Args:
        model: an open_clip architecture (``open_clip.list_models()``), or a label when
            ``model_cfg`` is given.
        pretrained: an open_clip pretrained tag (``"openai"``, ``"laion2b_s34b_b79k"``, ...);
            ``"gan-adapt"`` for a CLIP the project trained and ships (``model`` is then its
            name, e.g. ``"portraits-clip"``, see :mod:`gan_adapt.weights.shipped`); ``None`` for
            random weights. With ``checkpoint`` it only selects the preprocessing
            and activation the weights were trained with.
        checkpoint: a local weights file; no download then.
        model_cfg: a custom open_clip architecture dict (``embed_dim``, ``vision_cfg``,
            ``text_cfg``).
        quick_gelu: force the QuickGELU activation on or off; ``None`` follows the tag (OpenAI's
            weights need it).
        precision: the dtype of the weights; preprocessing and outputs stay float32.
        image_size: the side of the images the vision tower sees; ``None`` keeps the
            architecture's (224 for most). A smaller side is a memory mode: a ViT's position
            embeddings are resampled to the coarser patch grid (see :func:`set_input_size`).
        device: where the model lives.
    """
    import open_clip

    label = model
    source: WeightsSource | None = None
    if pretrained == shipped.CLIP_TAG:
        model_cfg, checkpoint = _shipped_clip(model, model_cfg, checkpoint)
        pretrained = None
        source = WeightsSource("shipped", model, _shipped_sha256(model, Path(checkpoint).name))
    if model_cfg is not None and pretrained is not None and checkpoint is None:
        raise GanAdaptError("A custom model_cfg has no pretrained tag to download; set "
                            "pretrained = none (random weights) or give a checkpoint file.")
    if model_cfg is None:
        check_clip_model(model)
    tag_cfg: dict = {}
    if pretrained is not None and model_cfg is None:
        tag_cfg = open_clip.get_pretrained_cfg(model, pretrained)
        if not tag_cfg and checkpoint is None:
            clip_weights(model, pretrained)  # raises the "unknown tag" message
    # Read the weights first: a missing or broken file is reported before any (slow) build.
    path: Path | None = None
    if checkpoint is not None:
        path = Path(checkpoint)
        source = source or WeightsSource("file", str(path))
    elif pretrained is not None:
        known = clip_weights(model, pretrained)
        path = fetch(known)
        source = WeightsSource("download", known.name, known.sha256)
    else:
        source = WeightsSource("random", "open_clip initialisation")
    state = read_state_dict(path, what=f"CLIP {model} checkpoint") if path is not None else None

    cfg = dict(model_cfg) if model_cfg is not None else open_clip.get_model_config(model)
    if quick_gelu is None:  # OpenAI's weights were trained with QuickGELU; their tag says so
        quick_gelu = bool(tag_cfg.get("quick_gelu", False) or cfg.get("quick_gelu", False))
    cfg["quick_gelu"] = quick_gelu
    network = _instantiate(cfg)
    if state is not None:
        _load_weights(network, state, path, label=f"CLIP {model}")
    if image_size is not None:
        set_input_size(network, image_size, label=f"CLIP {model}")
    network.to(device=torch.device(device), dtype=_DTYPES[precision])

    encoder = ClipEncoder(
        network, _tokenizer(model, cfg, custom=model_cfg is not None),
        embed_dim=int(cfg["embed_dim"]),
        mean=tuple(tag_cfg.get("mean", _OPENAI_MEAN)), std=tuple(tag_cfg.get("std", _OPENAI_STD)),
        center_crop=tag_cfg.get("resize_mode") != "squash",  # "squash" tags resize without a crop
        name=f"clip:{label}",
    )
    return set_source(encoder.to(torch.device(device)), source)


def _shipped_sha256(model: str, filename: str) -> str | None:
    entry = shipped.lookup(model) or {}
    return entry.get("files", {}).get(filename, {}).get("sha256")


def _shipped_clip(model: str, model_cfg: dict | None,
                  checkpoint: str | Path | None) -> tuple[dict, Path]:
    """The architecture and weights file of the shipped CLIP ``model`` (sha256 checked)."""
    from gan_adapt.io.json_files import read_object

    entry = shipped.lookup(model)
    if entry is None or entry.get("kind") != "clip":
        known = ", ".join(shipped.names("clip")) or "none"
        raise GanAdaptError(f"pretrained = '{shipped.CLIP_TAG}' loads a CLIP the project ships, "
                            f"and {model!r} is not one (shipped CLIP models: {known}).")
    if model_cfg is not None or checkpoint is not None:
        raise GanAdaptError(f"The shipped CLIP {model!r} brings its own architecture and "
                            "weights; remove model_cfg and checkpoint from its parameters.")
    folder = shipped.path(model)
    info = read_object(folder / "config.json", what="model config", error=CheckpointError)
    return info["model_cfg"], folder / "open_clip_model.safetensors"


def set_input_size(network: torch.nn.Module, size: int, label: str = "CLIP") -> None:
    """Make an open_clip ViT see ``size x size`` images, in place.

    The position embeddings of the image tokens are resampled (bicubic, by open_clip's own
    ``resize_pos_embed``, as when pretrained weights are loaded at another resolution) from the
    model's patch grid to ``size / patch`` patches a side. Fewer tokens make every transformer
    layer cheaper: ViT-B/32 at 160 px sees 26 tokens instead of 50, about half the activation
    memory of the CLIP branch. The embeddings change (the network was trained at its own size),
    so this is a memory mode, not an exact optimisation. ``size`` equal to the current size
    changes nothing.
    """
    from open_clip.model import resize_pos_embed

    visual = getattr(network, "visual", None)
    grid = getattr(visual, "grid_size", None)
    patch = getattr(visual, "patch_size", None)
    if grid is None or patch is None or not hasattr(visual, "positional_embedding"):
        tower = type(visual).__name__ if visual is not None else "no vision"
        raise GanAdaptError(f"image_size needs a ViT vision tower, but {label} has a {tower} "
                            "tower; leave image_size unset for this model.")
    patch = patch[0] if isinstance(patch, (tuple, list)) else int(patch)
    if size < patch or size % patch:
        raise GanAdaptError(f"image_size = {size} does not fit {label}: it must be a multiple "
                            f"of its {patch} px patch (e.g. {max(patch, size // patch * patch)}).")
    old = visual.positional_embedding
    visual.image_size = (size, size)
    visual.grid_size = (size // patch, size // patch)
    state = {"visual.positional_embedding": old.detach()}
    resize_pos_embed(state, network)  # a no-op at the same grid
    resized = state["visual.positional_embedding"].to(dtype=old.dtype, device=old.device)
    visual.positional_embedding = torch.nn.Parameter(resized, requires_grad=old.requires_grad)


def _instantiate(cfg: dict) -> torch.nn.Module:
    """open_clip's model class for an architecture dict, with no pretrained tower downloads."""
    from open_clip import CLIP, CustomTextCLIP
    from open_clip.coca_model import CoCa

    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}
    vision, text = cfg.setdefault("vision_cfg", {}), cfg.setdefault("text_cfg", {})
    if "timm_model_name" in vision:
        vision["timm_model_pretrained"] = False  # ImageNet tower weights would be a download
    if "hf_model_name" in text:
        text["hf_model_pretrained"] = False
    custom_text = cfg.pop("custom_text", False) or "hf_model_name" in text
    model_class = (CoCa if "multimodal_cfg" in cfg else CustomTextCLIP) if custom_text else CLIP
    try:
        return model_class(**cfg)
    except (TypeError, ValueError, KeyError) as exc:
        raise GanAdaptError(f"Invalid CLIP architecture config: {exc}") from None


def _load_weights(network: torch.nn.Module, state: dict[str, Tensor], path: Path,
                  label: str) -> None:
    """Load an open_clip (or OpenAI) state dict strictly; CheckpointError on any mismatch."""
    from open_clip.model import (
        convert_to_custom_text_state_dict,
        resize_pos_embed,
        resize_text_pos_embed,
    )

    if "positional_embedding" in state and not hasattr(network, "positional_embedding"):
        state = convert_to_custom_text_state_dict(state)
    for key in ("logit_scale", "logit_bias"):
        target = getattr(network, key, None)
        if key in state and isinstance(target, Tensor):
            state[key] = state[key].reshape(target.shape)
    try:
        resize_pos_embed(state, network)
        resize_text_pos_embed(state, network)
        network.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(
            f"The checkpoint {path} does not fit the {label} architecture "
            f"({' '.join(first[:3])[:400]}). Check that model / model_cfg match the file."
        ) from None


def _tokenizer(model: str, cfg: dict, custom: bool) -> _LazyTokenizer:
    import open_clip

    text_cfg = cfg.get("text_cfg", {})
    if custom or not text_cfg.get("hf_tokenizer_name"):
        # CLIP's byte-pair vocabulary ships inside open_clip: no download.
        context = text_cfg.get("context_length", 77)
        return _LazyTokenizer(model, lambda: open_clip.SimpleTokenizer(context_length=context))
    return _LazyTokenizer(model, lambda: open_clip.get_tokenizer(model))


class _LazyTokenizer:
    """Builds the tokenizer on first use: most recipes never embed text.

    A Hugging Face tokenizer (some open_clip architectures) needs the hub and ``transformers``;
    its failure becomes one clear GanAdaptError.
    """

    def __init__(self, model: str, make: Callable[[], Any]) -> None:
        self.model, self._make, self._tokenizer = model, make, None

    def __call__(self, texts: list[str]) -> Tensor:
        if self._tokenizer is None:
            try:
                self._tokenizer = self._make()
            except Exception as exc:  # noqa: BLE001 - hub/transformers errors, all alike to a user
                raise GanAdaptError(f"The text tokenizer of CLIP {self.model} is unavailable "
                                    f"({type(exc).__name__}: {exc}).") from None
        return self._tokenizer(texts)


# -- tiny models for tests ------------------------------------------------------------------------

def tiny_clip_config() -> dict:
    """A CLIP small enough to run in milliseconds: 32 px input, 2 layers, width 32, 32-d output.

    The vocabulary keeps CLIP's 49,408 tokens so that the real tokenizer works with it.
    """
    return {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16,
                       "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2,
                     "layers": 2},
    }


def tiny_clip(seed: int = 0, device: torch.device | str = "cpu") -> ClipEncoder:
    """A random tiny CLIP encoder (same ``seed``, same weights), leaving the global RNG alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_clip("tiny", pretrained=None, model_cfg=tiny_clip_config(), device=device)
