"""Entry point of the StyleGAN-NADA plugin (group ``gan_adapt``, name ``nada``)."""

from __future__ import annotations

from typing import Any

from gan_adapt import hookimpl


@hookimpl
def register_losses(register: Any) -> None:
    from gan_adapt_nada.directional import ClipDirectional

    register("clip_directional", ClipDirectional)
