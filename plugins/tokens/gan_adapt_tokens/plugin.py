"""Entry point of the tokens plugin (group ``gan_adapt``, name ``tokens``).

``self_similarity`` and ``attentive_style`` are the old names of ``token_self_similarity`` and
``token_analogy``, registered so that recipes written with them run unchanged.
"""

from __future__ import annotations

from typing import Any

from gan_adapt.plugin import hookimpl, lazy
from gan_adapt_tokens import params as p

_STRUCTURE = {
    "key_self_similarity": lazy("gan_adapt_tokens.key_self_similarity:KeySelfSimilarity",
                                p.KeySelfSimilarityParams),
    "token_self_similarity": lazy("gan_adapt_tokens.self_similarity:TokenSelfSimilarity",
                                  p.TokenSelfSimilarityParams),
    "self_similarity": lazy("gan_adapt_tokens.self_similarity:SelfSimilarity",
                            p.SelfSimilarityParams),
}


@hookimpl
def register_search_objectives(register: Any) -> None:
    for name, factory in _STRUCTURE.items():
        register(name, factory)


@hookimpl
def register_losses(register: Any) -> None:
    for name, factory in _STRUCTURE.items():
        register(name, factory)
    register("difa_attentive_style", lazy("gan_adapt_tokens.difa_style:DifaAttentiveStyle",
                                          p.DifaAttentiveStyleParams))
    register("token_analogy", lazy("gan_adapt_tokens.token_analogy:TokenAnalogy",
                                   p.TokenAnalogyParams))
    register("attentive_style", lazy("gan_adapt_tokens.attentive_style:AttentiveStyle",
                                     p.AttentiveStyleParams))
