"""``attentive_style``: the old name of :mod:`.token_analogy`, kept so that recipes written with
it run unchanged. It is not DiFa's attentive style loss; that is ``difa_attentive_style``
(:mod:`.difa_style`)."""

from __future__ import annotations

from gan_adapt_tokens.token_analogy import TokenAnalogy


class AttentiveStyle(TokenAnalogy):
    """Old name of token_analogy, kept for recipes (not DiFa's attentive style loss).

    DiFa's loss is ``difa_attentive_style``.
    """

    name = "attentive_style"
