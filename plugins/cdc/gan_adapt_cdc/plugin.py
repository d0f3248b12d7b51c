"""Entry point of the cross-domain correspondence plugin (group ``gan_adapt``, name ``cdc``)."""

from __future__ import annotations

from typing import Any

from gan_adapt import hookimpl


@hookimpl
def register_losses(register: Any) -> None:
    from gan_adapt_cdc.consistency import CrossDomainConsistency

    register("cdc_consistency", CrossDomainConsistency)
