"""Reading user images and writing image grids.

Images inside gan-adapt are float tensors ``[N, 3, H, W]`` in the generator's range ``[-1, 1]``.
:func:`load_image` accepts whatever a user is likely to pass (grayscale, RGBA, CMYK, 16-bit,
EXIF-rotated, huge) and refuses what cannot work (missing, not an image, truncated, tiny) with a
clear :class:`~gan_adapt.errors.InputError`.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from gan_adapt.errors import InputError

if TYPE_CHECKING:
    import torch

#: Smallest side we accept: below this an image carries no usable style.
MIN_SIDE = 8
#: Images above this many pixels are downscaled on load (a 40-megapixel photo is no better a
#: one-shot target than its 1024-px version, and would only cost memory).
MAX_PIXELS = 4096 * 4096


def load_image(path: str | Path, size: int | None = None) -> "torch.Tensor":
    """Load ``path`` as a ``[1, 3, size, size]`` tensor in ``[-1, 1]``.

    The image is centre-cropped to a square and resized with antialiasing when ``size`` is
    given. EXIF orientation is honoured; alpha is composited on white; any mode becomes RGB.
    """
    import numpy as np
    import torch
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise InputError(f"target image {path} does not exist")
    if path.is_dir():
        raise InputError(f"target image {path} is a folder, not an image file "
                         "(for several target images use target.images)")
    from gan_adapt.safe_paths import not_a_file_message, special_file_kind

    kind = special_file_kind(path)
    if kind:
        raise InputError(not_a_file_message(path, kind, "target image"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            image.load()  # decodes now, so a truncated file fails here
    except UnidentifiedImageError:
        raise InputError(f"{path} is not an image file that can be read "
                         "(expected PNG, JPEG, WebP, BMP, TIFF, ...)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path} could not be decoded; it may be truncated or corrupt "
                         f"({exc})") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InputError(f"{path} is too large to decode safely") from None
    image = ImageOps.exif_transpose(image)
    if min(image.size) < MIN_SIDE:
        raise InputError(f"{path} is {image.size[0]}x{image.size[1]} pixels; a target needs at "
                         f"least {MIN_SIDE}x{MIN_SIDE}")
    image = _to_rgb(image)
    width, height = image.size
    if width * height > MAX_PIXELS:
        # An integer box reduction: exact averaging (no aliasing) and fast on 50-megapixel photos.
        factor = math.ceil(math.sqrt(width * height / MAX_PIXELS))
        image = image.reduce(factor)
        warnings.warn(f"{path} is {width}x{height} pixels; it was downscaled {factor}x on load, "
                      f"to {image.size[0]}x{image.size[1]} (a target gains nothing from more "
                      f"than {MAX_PIXELS // 1_000_000} megapixels)")
    array = np.asarray(image, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0) * 2 - 1
    if size is not None:
        tensor = square_resize(tensor, size)
    return tensor.contiguous()


def _to_rgb(image):
    """Any PIL mode -> 8-bit RGB (16-bit scaled down, alpha composited on white)."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        import numpy as np

        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if array.max() > 255 else 255.0
        image = Image.fromarray((array / top * 255).round().astype("uint8"), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def square_resize(images: "torch.Tensor", size: int) -> "torch.Tensor":
    """Centre-crop ``[N, C, H, W]`` to a square and resize it to ``size`` (antialiased)."""
    import torch.nn.functional as F

    h, w = images.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    images = images[..., top:top + side, left:left + side]
    if side != size:
        images = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False,
                               antialias=True).clamp(-1, 1)
    return images


def load_image_folder(folder: str | Path, size: int) -> "torch.Tensor":
    """Every image of ``folder`` (sorted by name) as one ``[N, 3, size, size]`` tensor."""
    import torch

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"target folder {folder} does not exist or is not a folder")
    suffixes = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)
    if not paths:
        raise InputError(f"target folder {folder} holds no images ({', '.join(sorted(suffixes))})")
    return torch.cat([load_image(p, size) for p in paths])


def to_uint8(images: "torch.Tensor") -> "torch.Tensor":
    """``[-1, 1]`` float -> ``[0, 255]`` uint8, rounding."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to("cpu").byte()


def make_grid(images: "torch.Tensor", nrow: int, padding: int = 2) -> "torch.Tensor":
    """Tile ``[N, 3, H, W]`` into one ``[3, H', W']`` image, ``nrow`` images per row."""
    import torch

    n, c, h, w = images.shape
    ncol = nrow
    nrows = (n + ncol - 1) // ncol
    grid = torch.full((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding),
                      1.0, dtype=images.dtype, device=images.device)
    for i in range(n):
        r, col = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, y:y + h, x:x + w] = images[i]
    return grid


def save_grid(images: "torch.Tensor", path: str | Path, nrow: int) -> Path:
    """Write ``[N, 3, H, W]`` images in ``[-1, 1]`` as one PNG grid (atomically)."""
    from gan_adapt.files import write_bytes

    grid = make_grid(images.detach().float().cpu(), nrow)
    return write_bytes(path, encode_png(grid.unsqueeze(0))[0])


def encode_png(images: "torch.Tensor") -> list[bytes]:
    """Encode ``[N, 3, H, W]`` in ``[-1, 1]`` as PNG bytes, one per image."""
    from PIL import Image

    out = []
    for array in to_uint8(images).permute(0, 2, 3, 1).numpy():
        buffer = io.BytesIO()
        Image.fromarray(array, mode="RGB").save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out
