"""Entry point of the Mind the Gap plugin (group ``gan_adapt``, name ``mtg``)."""

from __future__ import annotations

from typing import Any

from gan_adapt import hookimpl


@hookimpl
def register_search_objectives(register: Any) -> None:
    from gan_adapt_mtg.pnorm import PNormL2

    register("pnorm_l2", PNormL2)


@hookimpl
def register_losses(register: Any) -> None:
    from gan_adapt_mtg.reference import ReferenceClip, ReferenceL2, ReferenceLPIPS
    from gan_adapt_mtg.within import ClipWithinDomain

    register("clip_within_domain", ClipWithinDomain)
    register("reference_clip", ReferenceClip)
    register("reference_l2", ReferenceL2)
    register("reference_lpips", ReferenceLPIPS)
