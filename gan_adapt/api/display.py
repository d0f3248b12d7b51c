"""How API objects show themselves in a notebook: PIL images and small, escaped HTML fragments.

Jupyter calls an object's ``_repr_html_``; the fragments here are self-contained (images are
``data:`` URIs) and every text taken from a file or a recipe is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from PIL import Image


def to_pil(images: torch.Tensor, nrow: int | None = None) -> Image.Image:
    """``[N, 3, H, W]`` images in ``[-1, 1]`` as one PIL image, ``nrow`` per row (default all)."""
    from PIL import Image

    from gan_adapt.io.images import make_grid, to_uint8

    if images.dim() == 3:
        images = images.unsqueeze(0)
    grid = make_grid(images.detach().float().cpu(), nrow or images.shape[0])
    return Image.fromarray(to_uint8(grid).permute(1, 2, 0).numpy(), mode="RGB")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def img_tag(png: bytes, alt: str, caption: str | None = None, scale: int = 1) -> str:
    """An ``<img>`` of PNG bytes (optionally in a captioned ``<figure>``), upscaled ``scale``x
    with crisp pixels: tiny generators make tiny images."""
    width = int.from_bytes(png[16:20], "big") if png[:8] == b"\x89PNG\r\n\x1a\n" else 0
    style = f"image-rendering:pixelated;max-width:100%;width:{width * scale}px" if width else \
        "max-width:100%"
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    tag = f'<img src="{uri}" alt="{html.escape(alt)}" style="{style}">'
    if caption is None:
        return tag
    return (f'<figure style="display:inline-block;margin:0 1em 0.5em 0">{tag}'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def values_table(values: Mapping[str, Any], header: tuple[str, str] = ("metric", "value")) -> str:
    """A two-column HTML table; floats with 4 decimals, everything escaped."""
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td style='text-align:right'>"
        f"{html.escape(f'{v:.4f}' if isinstance(v, float) else str(v))}</td></tr>"
        for k, v in values.items())
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def escape(text: Any) -> str:
    return html.escape(str(text))
