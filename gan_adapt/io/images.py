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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gan_adapt.errors import InputError

if TYPE_CHECKING:
    import torch

#: Smallest side we accept: below this an image carries no usable style.
MIN_SIDE = 8
#: Images above this many pixels are downscaled on load (a 40-megapixel photo is no better a
#: one-shot target than its 1024-px version, and would only cost memory).
MAX_PIXELS = 4096 * 4096


def load_image(path: str | Path, size: int | None = None) -> torch.Tensor:
    """Load ``path`` as a ``[1, 3, size, size]`` tensor in ``[-1, 1]``.

    The image is centre-cropped to a square and resized with antialiasing when ``size`` is
    given. EXIF orientation is honoured; alpha is composited on white; any mode becomes RGB.
    """
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise InputError(f"target image {path} does not exist")
    if path.is_dir():
        raise InputError(f"target image {path} is a folder, not an image file "
                         "(for several target images use target.images)")
    from gan_adapt.io.safe_paths import not_a_file_message, special_file_kind

    kind = special_file_kind(path)
    if kind:
        raise InputError(not_a_file_message(path, kind, "target image"))
    with warnings.catch_warnings(record=True) as metadata_warnings:
        warnings.simplefilter("always")  # Pillow's notes on malformed metadata, collected
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
            image.load()  # decodes now, so a truncated file fails here
        except UnidentifiedImageError:
            raise InputError(f"{path} is not an image file that can be read "
                             f"(expected PNG, JPEG, WebP, BMP, TIFF, ...){_tiff_hint(path)}"
                             ) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"{path} could not be decoded; it may be truncated or corrupt "
                             f"({exc})") from None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise InputError(f"{path} is too large to decode safely") from None
        sample_format = _sample_format(image)  # before a rotation copies the image untagged
        image, problem = _upright(image)
        if min(image.size) < MIN_SIDE:
            raise InputError(f"{path} is {image.size[0]}x{image.size[1]} pixels; a target needs "
                             f"at least {MIN_SIDE}x{MIN_SIDE}")
        image = _to_rgb(image, path, sample_format)
    problem = problem or next((str(w.message) for w in metadata_warnings), None)
    if problem:
        warnings.warn(f"{path}: malformed metadata ignored ({problem[:120].strip()})",
                      stacklevel=1)
    width, height = image.size
    if width * height > MAX_PIXELS:
        # An integer box reduction: exact averaging (no aliasing) and fast on 50-megapixel photos.
        factor = math.ceil(math.sqrt(width * height / MAX_PIXELS))
        image = image.reduce(factor)
        warnings.warn(f"{path} is {width}x{height} pixels; it was downscaled {factor}x on load, "
                      f"to {image.size[0]}x{image.size[1]} (a target gains nothing from more "
                      f"than {MAX_PIXELS // 1_000_000} megapixels)", stacklevel=1)
    array = np.asarray(image, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0) * 2 - 1
    if size is not None:
        tensor = square_resize(tensor, size)
    return tensor.contiguous()


def _upright(image) -> tuple[Any, str | None]:
    """The image turned as its EXIF orientation says; as stored when the EXIF (or PNG eXIf)
    data cannot be parsed, with the problem (metadata never makes a picture unusable)."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(image), None
    except Exception as exc:  # Pillow raises many types on malformed EXIF (SyntaxError, ...)
        return image, (f"EXIF unreadable, {type(exc).__name__}: {str(exc)[:80]}; used as "
                       "stored, without rotation")


def _sample_format(image) -> tuple[int, bool]:
    """(bits per sample, signed) that a TIFF declares; (0, False) when it declares nothing."""
    tags = getattr(image, "tag_v2", None)
    if tags is None:
        return 0, False
    try:
        bits = int((tags.get(258) or (0,))[0])
        signed = int((tags.get(339) or (1,))[0]) == 2
    except (TypeError, ValueError, IndexError):
        return 0, False
    return bits, signed


def _tiff_hint(path: Path) -> str:
    """What to do with a TIFF that Pillow cannot decode (float colour, 64-bit samples)."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError:
        return ""
    if magic not in (b"II*\x00", b"MM\x00*"):
        return ""
    return ("; it is a TIFF with a pixel format that cannot be read (such as floating-point "
            "colour or 64-bit samples): save it as an 8- or 16-bit TIFF or PNG")


def _high_depth_to_gray(image, path: Path, sample_format: tuple[int, bool]):
    """A 16/32-bit integer or floating-point single-channel image -> 8-bit ``L``.

    Integers are scaled by their type's full range (a 16-bit 200 is dark, not 8-bit 200);
    floats must lie in [0, 1], the convention of float images. Anything else (negative
    values, NaN, an HDR range) is refused rather than shown as a wrong, often black, image.
    """
    import numpy as np
    from PIL import Image

    array = np.asarray(image, dtype=np.float64 if image.mode == "F" else np.int64)
    if image.mode == "F":
        if not np.isfinite(array).all():
            raise InputError(f"{path} holds NaN or infinite pixel values; it cannot be a target")
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 1:
            raise InputError(f"{path} is a floating-point image with values from {low:g} to "
                             f"{high:g}; float images must lie in [0, 1] (save it as 8 or "
                             "16 bits)")
        top = 1.0
    elif image.mode.startswith("I;16"):
        top = 65535.0
    else:  # "I": 32-bit integers (or 16-bit from some decoders)
        bits, signed = sample_format
        if bits == 32 and not signed:
            array = array % 2 ** 32  # Pillow holds unsigned 32-bit values as signed ones
        if array.min() < 0:
            raise InputError(f"{path} holds negative pixel values; it cannot be a target")
        if not bits:
            bits = 16 if array.max() <= 65535 else 32
        top = float(2 ** (bits - 1) - 1 if signed else 2 ** bits - 1)
    return Image.fromarray((array / top * 255).round().clip(0, 255).astype("uint8"), mode="L")


def _to_rgb(image, path: Path = Path("image"), sample_format: tuple[int, bool] = (0, False)):
    """Any PIL mode -> 8-bit RGB (16/32-bit and float scaled down, alpha composited on white)."""
    from PIL import Image

    if image.mode.startswith("I") or image.mode == "F":
        image = _high_depth_to_gray(image, path, sample_format)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def square_resize(images: torch.Tensor, size: int) -> torch.Tensor:
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


def load_image_folder(folder: str | Path, size: int) -> torch.Tensor:
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


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` float -> ``[0, 255]`` uint8, rounding."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to("cpu").byte()


def make_grid(images: torch.Tensor, nrow: int, padding: int = 2) -> torch.Tensor:
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


def save_grid(images: torch.Tensor, path: str | Path, nrow: int) -> Path:
    """Write ``[N, 3, H, W]`` images in ``[-1, 1]`` as one PNG grid (atomically)."""
    from gan_adapt.io.atomic_files import write_bytes

    grid = make_grid(images.detach().float().cpu(), nrow)
    return write_bytes(path, encode_png(grid.unsqueeze(0))[0])


def save_labelled_grid(images: torch.Tensor, path: str | Path, nrow: int,
                       row_labels: Sequence[str]) -> Path:
    """:func:`save_grid` with a label left of each row (``"source"``, ``"adapted\\nstep 600"``):
    black text on a white margin, in PIL's built-in font (no font file needed)."""
    from PIL import Image, ImageDraw, ImageFont

    from gan_adapt.io.atomic_files import write_bytes

    padding = 2
    grid = make_grid(images.detach().float().cpu(), nrow, padding)
    picture = Image.fromarray(to_uint8(grid).permute(1, 2, 0).numpy(), mode="RGB")
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(picture)
    boxes = [measure.multiline_textbbox((0, 0), label, font=font, spacing=1)
             for label in row_labels]
    margin = max((box[2] - box[0] for box in boxes), default=0) + 2 * padding
    labelled = Image.new("RGB", (picture.width + margin, picture.height), "white")
    labelled.paste(picture, (margin, 0))
    draw = ImageDraw.Draw(labelled)
    row_height = images.shape[-2] + padding
    for row, (label, box) in enumerate(zip(row_labels, boxes)):
        top = padding + row * row_height + max(0, (row_height - padding - (box[3] - box[1])) // 2)
        draw.multiline_text((padding, top - box[1]), label, fill="black", font=font, spacing=1)
    buffer = io.BytesIO()
    labelled.save(buffer, format="PNG")
    return write_bytes(path, buffer.getvalue())


def encode_png(images: torch.Tensor) -> list[bytes]:
    """Encode ``[N, 3, H, W]`` in ``[-1, 1]`` as PNG bytes, one per image."""
    from PIL import Image

    out = []
    for array in to_uint8(images).permute(0, 2, 3, 1).numpy():
        buffer = io.BytesIO()
        Image.fromarray(array, mode="RGB").save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out
