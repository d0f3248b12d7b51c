"""Every shipped method term through the public test kit (gan_adapt.testing): a finite 0-dim
value whose gradient reaches what it trains (G_t, or the searched latent), on tiny models.
The hand-computed values live in the other test modules; this is the contract."""

from __future__ import annotations

import pytest

from gan_adapt.testing import check_encoder, check_term, make_context, make_step, tiny_encoder


def _adapt_terms():
    from gan_adapt_cdc.consistency import CrossDomainConsistency
    from gan_adapt_mtg.reference import ReferenceClip, ReferenceL2, ReferenceLPIPS
    from gan_adapt_mtg.within import ClipWithinDomain
    from gan_adapt_nada.directional import ClipDirectional
    from gan_adapt_oneshotclip.consistency import ClipConsistency
    from gan_adapt_oneshotclip.patch_nce import PatchNCE
    from gan_adapt_tokens.attentive_style import AttentiveStyle
    from gan_adapt_tokens.difa_style import DifaAttentiveStyle
    from gan_adapt_tokens.key_self_similarity import KeySelfSimilarity
    from gan_adapt_tokens.self_similarity import SelfSimilarity, TokenSelfSimilarity
    from gan_adapt_tokens.token_analogy import TokenAnalogy

    return {
        "attentive_style": (AttentiveStyle, {"layers": [0, 1]}),
        "self_similarity": (SelfSimilarity, {"layers": [0, -1]}),
        "difa_attentive_style": (DifaAttentiveStyle, {"layers": [-1]}),
        "key_self_similarity": (KeySelfSimilarity, {}),
        "token_analogy": (TokenAnalogy, {"layers": [0, 1]}),
        "token_self_similarity": (TokenSelfSimilarity, {"layers": [0, -1]}),
        "cdc_consistency": (CrossDomainConsistency, {"batch": 3}),
        "clip_directional": (ClipDirectional, {}),
        "clip_within_domain": (ClipWithinDomain, {}),
        "reference_clip": (ReferenceClip, {}),
        "reference_l2": (ReferenceL2, {"resize_to": 32}),
        "reference_lpips": (ReferenceLPIPS, {"pretrained": False, "resize_to": 32}),
        "clip_consistency": (ClipConsistency, {}),
        "patch_nce": (PatchNCE, {"n_crops": 4, "crop_size": 8}),
    }


def _search_terms():
    from gan_adapt_mtg.pnorm import PNormL2
    from gan_adapt_oneshotclip.search import ClipImageDistance
    from gan_adapt_oneshotclip.text import ClipTextDistance
    from gan_adapt_tokens.key_self_similarity import KeySelfSimilarity
    from gan_adapt_tokens.self_similarity import SelfSimilarity, TokenSelfSimilarity

    return {
        "self_similarity": (SelfSimilarity, {"layers": [0, 2]}),
        "token_self_similarity": (TokenSelfSimilarity, {"layers": [0, 2]}),
        "key_self_similarity": (KeySelfSimilarity, {"layers": [1, 2]}),
        "pnorm_l2": (PNormL2, {"n_samples": 200}),
        "clip_image_distance": (ClipImageDistance, {"n_aug": 2}),
        "clip_text_distance": (ClipTextDistance, {"n_aug": 2}),
    }


@pytest.fixture(scope="module")
def ctx():
    return make_context()


@pytest.mark.parametrize("name", ["cdc_consistency", "clip_directional", "clip_within_domain",
                                  "reference_clip", "reference_l2", "reference_lpips",
                                  "clip_consistency", "patch_nce", "attentive_style",
                                  "self_similarity", "difa_attentive_style",
                                  "key_self_similarity", "token_analogy",
                                  "token_self_similarity"])
def test_adaptation_terms_keep_the_contract(ctx, name):
    factory, params = _adapt_terms()[name]
    term = factory(factory.Params(**params), ctx)
    check_term(term, make_step(ctx, batch=3))


@pytest.mark.parametrize("name", ["pnorm_l2", "clip_image_distance", "clip_text_distance",
                                  "self_similarity", "token_self_similarity",
                                  "key_self_similarity"])
def test_search_objectives_move_the_latent(ctx, name):
    factory, params = _search_terms()[name]
    term = factory(factory.Params(**params), ctx)
    check_term(term, make_step(ctx, phase="search"))


def test_the_tiny_clip_keeps_the_encoder_contract():
    check_encoder(tiny_encoder(), texts=True)


def test_the_kit_catches_a_term_that_breaks_the_contract(ctx):
    class PerSample:
        def __call__(self, step):
            return step.fake.mean((1, 2, 3))

    class Detached:
        def __call__(self, step):
            return step.fake.detach().mean()

    with pytest.raises(AssertionError, match="expected a 0-dim floating-point tensor"):
        check_term(PerSample(), make_step(ctx))
    with pytest.raises(AssertionError, match="carries no gradient"):
        check_term(Detached(), make_step(ctx))
    check_term(Detached(), make_step(ctx), has_gradient=False)
