"""Entry point of the tokens plugin (group ``gan_adapt``, name ``tokens``)."""

from __future__ import annotations

from typing import Any

from gan_adapt.plugin import hookimpl, lazy
from gan_adapt_tokens import params as p


@hookimpl
def register_search_objectives(register: Any) -> None:
    register("self_similarity", lazy("gan_adapt_tokens.self_similarity:SelfSimilarity",
                                     p.SelfSimilarityParams))


@hookimpl
def register_losses(register: Any) -> None:
    register("self_similarity", lazy("gan_adapt_tokens.self_similarity:SelfSimilarity",
                                     p.SelfSimilarityParams))
    register("attentive_style", lazy("gan_adapt_tokens.attentive_style:AttentiveStyle",
                                     p.AttentiveStyleParams))
