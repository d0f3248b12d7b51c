"""Entry point of the OneShotCLIP plugin (group ``gan_adapt``, name ``oneshotclip``).

Registration only adds names: nothing is imported beyond this module until a recipe (or a
command) uses one of them.
"""

from __future__ import annotations

from typing import Any

from gan_adapt import hookimpl


@hookimpl
def register_search_objectives(register: Any) -> None:
    from gan_adapt_oneshotclip.search import ClipImageDistance
    from gan_adapt_oneshotclip.text import ClipTextDistance

    register("clip_image_distance", ClipImageDistance)
    register("clip_text_distance", ClipTextDistance)


@hookimpl
def register_losses(register: Any) -> None:
    from gan_adapt_oneshotclip.consistency import ClipConsistency
    from gan_adapt_oneshotclip.patch_nce import PatchNCE

    register("clip_consistency", ClipConsistency)
    register("patch_nce", PatchNCE)


@hookimpl
def register_commands(cli: Any) -> None:
    from gan_adapt_oneshotclip.translate import translate_command

    cli.add_command(translate_command)
