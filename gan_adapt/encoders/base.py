"""The encoder interface: generator-range images in, L2-normalised embeddings out.

Every semantic loss of a recipe (CLIP similarity, PatchNCE over CLIP patches, DINO features) talks
to an encoder through :class:`ImageEncoder`. Backbone authors subclass :class:`EncoderBase` and
write one method, :meth:`EncoderBase.encode`; the base class supplies the rest:

* preprocessing in torch, never through PIL: ``[-1, 1]`` -> ``[0, 1]``, a centre crop to a square
  (CLIP's "resize the shortest side, then crop"), an antialiased bicubic resize to the encoder's
  input size, and the encoder's own mean/std;
* patch embedding: all crops gathered with one indexing op, resized and embedded in one forward;
* :meth:`EncoderBase.embed_many`: several groups of images (whole images and patches, source and
  adapted) in at most two forwards, one for the groups that need gradients and one, under
  ``torch.no_grad``, for those that do not (the frozen source side builds no autograd graph).

Boxes are ``(x0, y0, width, height)`` in pixels, integer, the top-left corner first. All boxes of
one call share the same width and height, so that the crops form one tensor.

Encoder weights are frozen and the module stays in eval mode: gradients reach the *input* only.

Mixed precision: set ``mixed_precision = torch.bfloat16`` (the engine does for a recipe's
``precision = "bf16"``) and the backbone runs under autocast; preprocessing, the normalisation and
the returned embeddings stay float32.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_adapt.errors import GanAdaptError


@runtime_checkable
class ImageEncoder(Protocol):
    """What losses and the engine may rely on. All embeddings are float32 and L2-normalised."""

    input_size: int  # side of the square image the backbone sees (the largest one, for ensembles)
    embed_dim: int  # length of an embedding

    def embed_images(self, x: Tensor) -> Tensor:
        """``[N, 3, H, W]`` in ``[-1, 1]``, any H and W -> ``[N, D]``; differentiable in ``x``."""
        ...

    def embed_patches(self, x: Tensor, boxes: Tensor) -> Tensor:
        """Embed the crops ``boxes`` of ``x``: ``[N, P, D]``.

        ``boxes`` is ``[N, P, 4]``, or ``[P, 4]`` for the same positions in every image.
        """
        ...

    def embed_many(self, groups: Sequence[Tensor], grad: Sequence[bool]) -> list[Tensor]:
        """Embed several image batches; ``grad[i]=False`` groups run without autograd."""
        ...

    def embed_pair(self, source: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """``embed_many([source, target], [False, True])``: constant source, trainable target."""
        ...

    def embed_text(self, texts: Sequence[str]) -> Tensor:
        """``[T, D]`` text embeddings (constants); raises GanAdaptError without a text tower."""
        ...


class EncoderBase(nn.Module, ABC):
    """Shared machinery of single-backbone encoders; subclasses implement :meth:`encode`."""

    def __init__(self, *, input_size: int, embed_dim: int, mean: Sequence[float],
                 std: Sequence[float], center_crop: bool = True, name: str = "") -> None:
        super().__init__()
        self.input_size = int(input_size)
        self.embed_dim = int(embed_dim)
        self.center_crop = center_crop  # False: non-square images are squashed instead of cropped
        self.name = name or type(self).__name__
        #: dtype the backbone runs in under autocast (None: the weights' own dtype, no autocast)
        self.mixed_precision: torch.dtype | None = None
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)

    @abstractmethod
    def encode(self, pixels: Tensor) -> Tensor:
        """Backbone features ``[B, D]`` (not yet normalised) of preprocessed ``pixels``.

        ``pixels`` is float32 ``[B, 3, input_size, input_size]``, already normalised with this
        encoder's mean/std; cast it to the backbone's dtype if that differs.
        """

    # -- preprocessing -----------------------------------------------------------------------

    def preprocess(self, x: Tensor) -> Tensor:
        """``[N, 3, H, W]`` in ``[-1, 1]`` -> normalised ``[N, 3, S, S]`` for the backbone."""
        _check_images(x, self.name)
        x = (x.float() + 1.0) / 2.0
        if self.center_crop:
            x = center_square(x)
        x = resize(x, self.input_size)
        return (x - self.mean) / self.std

    # -- embeddings --------------------------------------------------------------------------

    def _encode(self, pixels: Tensor) -> Tensor:
        """:meth:`encode` under autocast when ``mixed_precision`` is set; float32 out."""
        dtype = self.mixed_precision
        if dtype is None:
            return self.encode(pixels).float()
        with torch.autocast(pixels.device.type, dtype=dtype):
            return call_with_frozen_weights_in(self, dtype, pixels).float()

    def forward(self, pixels: Tensor) -> Tensor:
        """Calling the module runs :meth:`encode` (what :meth:`_encode` reparametrises)."""
        return self.encode(pixels)

    def embed_images(self, x: Tensor) -> Tensor:
        return F.normalize(self._encode(self.preprocess(x)), dim=-1)

    def embed_patches(self, x: Tensor, boxes: Tensor) -> Tensor:
        crops = crop_patches(x, boxes)  # [N, P, 3, h, w]
        n, p = crops.shape[:2]
        return self.embed_images(crops.flatten(0, 1)).unflatten(0, (n, p))

    def embed_many(self, groups: Sequence[Tensor], grad: Sequence[bool]) -> list[Tensor]:
        if len(groups) != len(grad):
            raise ValueError(f"embed_many: {len(groups)} groups but {len(grad)} grad flags")
        out: list[Tensor | None] = [None] * len(groups)
        for wants_grad in (False, True):
            chosen = [i for i, flag in enumerate(grad) if bool(flag) == wants_grad]
            if not chosen:
                continue
            # The no-grad pass builds no graph at all: cheaper than one fused forward with the
            # source rows detached, whose backward would still run over the whole batch.
            with torch.set_grad_enabled(wants_grad and torch.is_grad_enabled()):
                pixels = torch.cat([self.preprocess(groups[i]) for i in chosen])
                embeddings = F.normalize(self._encode(pixels), dim=-1)
            sizes = [groups[i].shape[0] for i in chosen]
            for i, part in zip(chosen, embeddings.split(sizes)):
                out[i] = part
        return out  # type: ignore[return-value]

    def embed_pair(self, source: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        src, tgt = self.embed_many([source, target], [False, True])
        return src, tgt

    def embed_text(self, texts: Sequence[str]) -> Tensor:
        raise GanAdaptError(
            f"The {self.name} encoder has no text tower, so it cannot embed text; "
            "use a CLIP encoder for text targets."
        )

    # -- frozen ------------------------------------------------------------------------------

    def train(self, mode: bool = True) -> EncoderBase:
        """Always stays in eval mode (no dropout, fixed norms), even inside a training module."""
        return super().train(False)


def call_with_frozen_weights_in(module: nn.Module, dtype: torch.dtype, *args: Any) -> Any:
    """``module(*args)`` with its frozen floating-point weights replaced by ``dtype`` copies.

    Autocast caches its casts only for weights that require gradients, so a frozen network
    under autocast casts every weight again at every forward (on CPU, the casts took a third of
    a bf16 search step). The copies are made once, kept on the module, and made again only if a
    weight changes (its version counter moves) or moves device. The module itself is left
    untouched (``torch.func.functional_call``), so a backward pass sees the tensors the forward
    used. A weight replaced by another tensor (e.g. resampled position embeddings) is told
    apart by its storage address and shape, since a new tensor's version counter starts at 0 too.
    """
    cache: dict[str, tuple[tuple, Tensor]] = module.__dict__.setdefault("_low_precision_cache", {})
    low: dict[str, Tensor] = {}
    for name, p in module.named_parameters():
        if p.requires_grad or not p.is_floating_point() or p.dtype == dtype:
            continue
        stamp = (p._version, p.data_ptr(), tuple(p.shape), p.device)
        seen, copy = cache.get(name, (None, None))
        if copy is None or seen != stamp:
            copy = p.detach().to(dtype)
            cache[name] = (stamp, copy)
        low[name] = copy
    # Floating buffers too (BatchNorm's running statistics): eval-mode batch norm on the CPU
    # refuses bf16 activations with float statistics. A frozen encoder never updates them.
    for name, buffer in module.named_buffers():
        if not buffer.is_floating_point() or buffer.dtype == dtype:
            continue
        stamp = (buffer._version, buffer.data_ptr(), tuple(buffer.shape), buffer.device)
        seen, copy = cache.get(name, (None, None))
        if copy is None or seen != stamp:
            copy = buffer.detach().to(dtype)
            cache[name] = (stamp, copy)
        low[name] = copy
    # tie_weights=False: a module reachable under two names (lpips keeps `lin0` and `lins.0`) is
    # one object, swapped once; alias handling would restore it wrongly.
    return torch.func.functional_call(module, low, args, strict=False, tie_weights=False)


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode and ``requires_grad=False`` for every parameter."""
    module.eval()
    module.requires_grad_(False)
    return module


# -- image helpers ----------------------------------------------------------------------------

def center_square(x: Tensor) -> Tensor:
    """Centre crop ``[N, C, H, W]`` to a square of side ``min(H, W)`` (a view when possible)."""
    h, w = x.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return x[..., top:top + side, left:left + side]


def resize(x: Tensor, size: int, mode: str = "bicubic") -> Tensor:
    """Antialiased resize of ``[N, C, H, W]`` to ``size x size``; a no-op at that size already."""
    if tuple(x.shape[-2:]) == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode=mode, antialias=True, align_corners=False)


def crop_patches(x: Tensor, boxes: Tensor) -> Tensor:
    """Gather equal-size crops with one advanced-indexing op, differentiably.

    ``x`` is ``[N, C, H, W]``; ``boxes`` is ``[N, P, 4]`` (per image) or ``[P, 4]`` (the same
    positions in every image) of ``(x0, y0, width, height)``, all with one width and height.
    Returns ``[N, P, C, height, width]``.
    """
    n, _, h, w = x.shape
    boxes = torch.as_tensor(boxes, device=x.device)
    if boxes.dtype.is_floating_point:
        raise ValueError("crop_patches: boxes must be integer pixel coordinates")
    boxes = boxes.long()
    if boxes.ndim == 2:
        boxes = boxes.unsqueeze(0).expand(n, -1, -1)
    if boxes.ndim != 3 or boxes.shape[0] != n or boxes.shape[-1] != 4:
        raise ValueError(f"crop_patches: boxes must be [N, P, 4] or [P, 4] with N={n}, "
                         f"got {tuple(boxes.shape)}")
    x0, y0, bw, bh = boxes.unbind(-1)
    pw, ph = int(bw.flatten()[0]), int(bh.flatten()[0])
    if bool((bw != pw).any() | (bh != ph).any()):
        raise ValueError("crop_patches: all boxes of one call must have the same width and height")
    if pw < 1 or ph < 1 or bool((x0 < 0).any() | (y0 < 0).any()
                                | (x0 + pw > w).any() | (y0 + ph > h).any()):
        raise GanAdaptError(
            f"A {pw}x{ph} patch does not fit inside the {w}x{h} image at every requested "
            "position; use a smaller crop size."
        )
    rows = y0.unsqueeze(-1) + torch.arange(ph, device=x.device)  # [N, P, ph]
    cols = x0.unsqueeze(-1) + torch.arange(pw, device=x.device)  # [N, P, pw]
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    channels_last = x.permute(0, 2, 3, 1)  # [N, H, W, C]: the indexed dims must be adjacent
    patches = channels_last[batch, rows.unsqueeze(-1), cols.unsqueeze(-2)]  # [N, P, ph, pw, C]
    return patches.permute(0, 1, 4, 2, 3)


def random_boxes(n: int, count: int, size: int, height: int, width: int | None = None, *,
                 generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> Tensor:
    """``[n, count, 4]`` uniformly placed ``size x size`` boxes inside an image (for PatchNCE)."""
    width = height if width is None else width
    if size > min(height, width):
        raise GanAdaptError(f"A {size}px patch does not fit a {width}x{height} image; "
                            "use a smaller crop size.")
    x0 = torch.randint(0, width - size + 1, (n, count), generator=generator)
    y0 = torch.randint(0, height - size + 1, (n, count), generator=generator)
    side = torch.full_like(x0, size)
    return torch.stack([x0, y0, side, side], dim=-1).to(device)


def _check_images(x: Tensor, who: str) -> None:
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{who}: expected images [N, 3, H, W], got {tuple(x.shape)}")
