"""Checks of the numbers a user passes to a command or an API call (not in a recipe).

A seed, a count, a truncation or an image comes from a command line or a notebook, and a wrong
one must stop the call with one line naming it, before anything is computed or written: a NaN
truncation otherwise writes a grid of garbage with exit code 0, a seed beyond 64 bits ends in
torch's overflow traceback, and ``sample(10**9)`` is killed by the kernel for its memory. The
CLI and :mod:`gan_adapt.api` call the same functions, so both refuse the same values with the
same words. (Recipe values are checked by :mod:`gan_adapt.recipe.limits`.)
"""

from __future__ import annotations

import math
import operator
from typing import Any

from gan_adapt.errors import InputError

#: torch seeds its generators with 64 bits.
MAX_SEED = 2 ** 64 - 1
#: A truncation psi scales a latent's distance from the mean; beyond this it only overflows.
MAX_TRUNCATION = 100.0
#: At most this share of the machine's (or GPU's) memory is planned for one call's samples.
MEMORY_SHARE = 0.5


class NumberError(InputError, ValueError):
    """A number passed to a command or an API call is outside what it can be.

    Also a ``ValueError``, so code that caught the API's earlier ``ValueError`` keeps working.
    """


def whole_number(value: Any, what: str, minimum: int = 0, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``; booleans and fractions are refused."""
    if isinstance(value, bool):
        raise NumberError(f"{what} must be a whole number, not the boolean {value}")
    try:
        number = operator.index(value)  # ints and numpy integers; not floats, not strings
    except TypeError:
        raise NumberError(f"{what} must be a whole number, got {_shown(value)}") from None
    if number < minimum or (maximum is not None and number > maximum):
        bounds = (f"from {minimum:,} to {maximum:,}" if maximum is not None
                  else f"at least {minimum:,}")
        raise NumberError(f"{what} must be {bounds}, got {_shown(number)}")
    return number


def seed(value: Any, what: str = "seed") -> int:
    """A seed of torch's generators: a whole number in ``[0, 2**64 - 1]``."""
    return whole_number(value, what, 0, MAX_SEED)


def finite(value: Any, what: str, *, positive: bool = False,
           limit: float | None = None) -> float:
    """``value`` as a finite float (``positive``: > 0; ``limit``: ``|value| <= limit``)."""
    if isinstance(value, (bool, str, bytes)):
        raise NumberError(f"{what} must be a number, got {_shown(value)}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise NumberError(f"{what} must be a number, got {_shown(value)}") from None
    if not math.isfinite(number):
        raise NumberError(f"{what} must be a finite number, got {number}")
    if positive and number <= 0:
        raise NumberError(f"{what} must be greater than 0, got {number}")
    if limit is not None and abs(number) > limit:
        raise NumberError(f"{what} must lie within [-{limit:g}, {limit:g}], got {number:g}")
    return number


def truncation(value: Any, what: str = "truncation") -> float:
    """A truncation psi: finite, within ``[-100, 100]`` (1 = none, 0 = the mean latent)."""
    return finite(value, what, limit=MAX_TRUNCATION)


def sample_count(value: Any, resolution: int, what: str = "n", device: Any = None,
                 minimum: int = 1) -> int:
    """How many images one call makes: a whole number whose images (and latents) fit in
    :data:`MEMORY_SHARE` of ``device``'s memory."""
    from gan_adapt.recipe.limits import machine_memory, sample_bytes

    n = whole_number(value, what, minimum)
    available = machine_memory(device)
    if available is not None:
        most = max(int(available * MEMORY_SHARE) // sample_bytes(int(resolution)), minimum)
        if n > most:
            raise NumberError(
                f"{what} = {n:,} images of {resolution}x{resolution} pixels need more than "
                f"half the memory of this {'GPU' if _is_cuda(device) else 'machine'}; at most "
                f"{most:,} fit in one call (make several calls with other seeds)")
    return n


def class_index(value: Any, classes: int, what: str = "--class") -> int | None:
    """A class label of a generator with ``classes`` classes (0: unconditional); None: none."""
    if value is None:
        return None
    if not classes:
        raise NumberError(f"{what} {value}: this generator is unconditional (it has no "
                          "classes); leave the class out")
    label = whole_number(value, what, 0)
    if label >= classes:
        raise NumberError(f"{what} {label} is out of range: the generator has {classes} "
                          f"classes (0..{classes - 1})")
    return label


def image_tensor(image: Any, what: str = "image") -> Any:
    """A ``[1, 3, H, W]`` (or ``[3, H, W]``) float image with H, W >= 1 and finite values
    (returned as float32)."""
    import torch

    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or tuple(image.shape[:2]) != (1, 3):
        raise NumberError(f"{what}: expected a [1, 3, H, W] image tensor, got "
                          f"{list(image.shape)}")
    if image.shape[-1] < 1 or image.shape[-2] < 1:
        raise NumberError(f"{what}: the image is empty ({image.shape[-2]}x{image.shape[-1]} "
                          "pixels)")
    if not image.is_floating_point():  # uint8 pixels would be read as 255 times too bright
        raise NumberError(f"{what}: expected a float tensor in [-1, 1], got a {image.dtype} "
                          "tensor (for 0..255 pixels: image / 127.5 - 1)")
    image = image.detach().float()
    if not bool(torch.isfinite(image).all()):
        raise NumberError(f"{what}: the image holds NaN or infinite pixel values")
    return image


def _is_cuda(device: Any) -> bool:
    return device is not None and getattr(device, "type", str(device)).startswith("cuda")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."
