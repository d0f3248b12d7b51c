"""Entry point of the OneShotCLIP plugin (group ``gan_adapt``, name ``oneshotclip``).

Registration only adds names, lazily (:func:`gan_adapt.plugin_host.registry.lazy`): nothing beyond
this module and the torch-free :mod:`~gan_adapt_oneshotclip.params` is imported until a recipe
builds a term (or a command runs).
"""

from __future__ import annotations

from typing import Any

from gan_adapt.plugin import hookimpl, lazy
from gan_adapt_oneshotclip import params as p


@hookimpl
def register_search_objectives(register: Any) -> None:
    register("clip_image_distance", lazy("gan_adapt_oneshotclip.search:ClipImageDistance",
                                         p.ClipImageDistanceParams))
    register("clip_text_distance", lazy("gan_adapt_oneshotclip.text:ClipTextDistance",
                                        p.ClipTextDistanceParams))


@hookimpl
def register_losses(register: Any) -> None:
    register("clip_consistency", lazy("gan_adapt_oneshotclip.consistency:ClipConsistency",
                                      p.ClipConsistencyParams))
    register("patch_nce", lazy("gan_adapt_oneshotclip.patch_nce:PatchNCE", p.PatchNCEParams))


@hookimpl
def register_commands(cli: Any) -> None:
    from gan_adapt_oneshotclip.translate import translate_command

    cli.add_command(translate_command)
