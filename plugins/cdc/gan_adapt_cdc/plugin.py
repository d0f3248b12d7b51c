"""Entry point of the cross-domain correspondence plugin (group ``gan_adapt``, name ``cdc``)."""

from __future__ import annotations

from typing import Any

from gan_adapt.plugin import hookimpl, lazy
from gan_adapt_cdc.params import CrossDomainConsistencyParams


@hookimpl
def register_losses(register: Any) -> None:
    register("cdc_consistency", lazy("gan_adapt_cdc.consistency:CrossDomainConsistency",
                                     CrossDomainConsistencyParams))
