"""Entry point of the StyleGAN-NADA plugin (group ``gan_adapt``, name ``nada``)."""

from __future__ import annotations

from typing import Any

from gan_adapt.plugin import hookimpl, lazy
from gan_adapt_nada.params import DirectionalParams


@hookimpl
def register_losses(register: Any) -> None:
    register("clip_directional", lazy("gan_adapt_nada.directional:ClipDirectional",
                                      DirectionalParams))
