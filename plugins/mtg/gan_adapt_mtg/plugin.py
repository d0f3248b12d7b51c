"""Entry point of the Mind the Gap plugin (group ``gan_adapt``, name ``mtg``)."""

from __future__ import annotations

from typing import Any

from gan_adapt.plugin import hookimpl, lazy
from gan_adapt_mtg import params as p


@hookimpl
def register_search_objectives(register: Any) -> None:
    register("pnorm_l2", lazy("gan_adapt_mtg.pnorm:PNormL2", p.PNormL2Params))


@hookimpl
def register_losses(register: Any) -> None:
    register("clip_within_domain", lazy("gan_adapt_mtg.within:ClipWithinDomain",
                                        p.ClipWithinDomainParams))
    register("reference_clip", lazy("gan_adapt_mtg.reference:ReferenceClip",
                                    p.ReferenceClipParams))
    register("reference_l2", lazy("gan_adapt_mtg.reference:ReferenceL2", p.ReferenceL2Params))
    register("reference_lpips", lazy("gan_adapt_mtg.reference:ReferenceLPIPS",
                                     p.ReferenceLPIPSParams))
