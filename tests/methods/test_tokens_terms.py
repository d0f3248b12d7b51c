"""The tokens plugin's token-map terms (token_self_similarity, token_analogy, and their old
names self_similarity, attentive_style) against hand-computed values, on a see-through ViT whose
tokens are the pixels' colours, and on the real open_clip and timm towers. The paper terms
(difa_attentive_style, key_self_similarity) are in test_tokens_paper_terms.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from gan_adapt_tokens.attentive_style import AttentiveStyle
from gan_adapt_tokens.self_similarity import SelfSimilarity, TokenSelfSimilarity
from gan_adapt_tokens.token_analogy import TokenAnalogy
from gan_adapt_tokens.token_maps import TokenMaps, self_similarity
from pydantic import ValidationError
from torch import nn

from gan_adapt.encoders.base import EncoderBase
from gan_adapt.errors import GanAdaptError
from gan_adapt.plugin_host.context import Step, TargetData
from tests.methods.fakes import Ensemble

RED, GREEN, BLUE, WHITE = [1.0, -1, -1], [-1.0, 1, -1], [-1.0, -1, 1], [1.0, 1, 1]


def picture(*colours: list[float]) -> torch.Tensor:
    """``[1, 3, 2, 2]``: four pixels in row-major order (the see-through ViT's four tokens)."""
    return torch.tensor(colours).t().reshape(1, 3, 2, 2)


class SeeThroughTower(nn.Module):
    """A 'ViT' on 2x2 images with 1-px patches: layer 0's tokens are the pixels (the patch
    embedding is the identity), block k's tokens the pixels with channel 0 scaled by k + 1."""

    def __init__(self, depth: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.conv1.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        self.transformer = SimpleNamespace(resblocks=[None] * depth)

    def forward_intermediates(self, x, indices, intermediates_only, output_fmt):
        assert intermediates_only and output_fmt == "NCHW"
        scale = torch.ones(1, 3, 1, 1)
        maps = []
        for index in indices:
            scale[0, 0] = index + 2.0
            maps.append(self.conv1(x) * scale)
        return {"image_intermediates": maps}


class SeeThroughEncoder(EncoderBase):
    """Preprocessing is the identity on [-1, 1] images (mean = std = 0.5, 2 px input)."""

    def __init__(self) -> None:
        super().__init__(input_size=2, embed_dim=3, mean=(0.5,) * 3, std=(0.5,) * 3, name="see")
        self.model = nn.Module()
        self.model.visual = SeeThroughTower()

    def encode(self, pixels):
        return pixels.mean((2, 3))


def _ctx(encoder, image=None):
    return SimpleNamespace(encoder=lambda name: encoder, target=TargetData(image=image),
                           device=torch.device("cpu"))


def _step(phase, *, fake, source=None, source_reference=None, w_ref=None) -> Step:
    step = Step(phase=phase, index=0, kind="random", ws=torch.zeros(fake.shape[0], 1, 1),
                target=TargetData(), generator=None, source_generator=None, w_ref=w_ref)
    for name, image in {"fake": fake, "source": source,
                        "source_reference": source_reference}.items():
        if image is not None:
            step.__dict__[name] = image
    return step


def test_self_similarity_matrix_by_hand():
    tokens = torch.tensor([[1.0, 0, 1], [0, 1, 0]]).view(1, 2, 3, 1)  # positions: x, y, x
    assert self_similarity(tokens)[0].tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]


def test_the_see_through_tower_gives_the_pixels_as_layer_0():
    maps = TokenMaps(SeeThroughEncoder(), [0, 2], "t")
    image = picture(RED, GREEN, BLUE, WHITE)
    zero, two = maps(image)
    assert maps.layers == [0, 2]
    assert torch.allclose(zero, image / 3 ** 0.5)
    assert torch.allclose(two, torch.nn.functional.normalize(image * torch.tensor(
        [3.0, 1, 1]).view(1, 3, 1, 1), dim=1))
    last_block = TokenMaps(SeeThroughEncoder(), [-1], "t")  # -1: the last of 2 blocks
    assert last_block.layers == [2]
    assert torch.allclose(last_block(image)[0], two)


def test_structure_search_ignores_appearance_and_sees_layout():
    target = picture(RED, RED, GREEN, GREEN)
    term = TokenSelfSimilarity(TokenSelfSimilarity.Params(layers=[0]),
                               _ctx(SeeThroughEncoder(), target))
    # the inverted target has the same structure: cos(-a, -b) = cos(a, b)
    assert term(_step("search", fake=-target)).item() == pytest.approx(0, abs=1e-6)
    # a recoloured target (red -> blue) too: the two colours are as unlike as before
    assert term(_step("search", fake=picture(BLUE, BLUE, GREEN, GREEN))).item() == \
        pytest.approx(0, abs=1e-6)
    # a different layout does not: with cos(red, green) = -1/3 the target's S is
    # [[1, 1, c, c], [1, 1, c, c], [c, c, 1, 1], [c, c, 1, 1]]; the layout R G R G swaps
    # half of the off-diagonal entries between 1 and c: 8 of 16 entries differ by 1 - c
    c = -1 / 3
    fake = picture(RED, GREEN, RED, GREEN).requires_grad_(True)
    value = term(_step("search", fake=fake))
    assert value.item() == pytest.approx(8 * (1 - c) ** 2 / 16, rel=1e-5)
    value.backward()
    assert fake.grad.abs().sum() > 0


def test_structure_loss_compares_each_sample_with_its_source():
    term = TokenSelfSimilarity(TokenSelfSimilarity.Params(layers=[0, 1]), _ctx(SeeThroughEncoder()))
    source = torch.cat([picture(RED, RED, GREEN, GREEN), picture(RED, GREEN, RED, GREEN)])
    assert term(_step("adapt", fake=-source, source=source)).item() == \
        pytest.approx(0, abs=1e-6)
    swapped = term(_step("adapt", fake=source.flip(0), source=source)).item()
    assert swapped > 0.1
    with pytest.raises(GanAdaptError, match="needs a target image"):
        term(_step("search", fake=source))


def test_token_analogy_is_zero_on_the_analogy_and_positive_elsewhere():
    # the reference pair: red hair over green skin, drawn as blue over white in the target
    source_reference = picture(RED, RED, GREEN, GREEN)
    target = picture(BLUE, BLUE, WHITE, WHITE)
    # a sample with a different layout, and what the analogy makes of it
    sample = picture(GREEN, RED, GREEN, RED)
    analogy = picture(WHITE, BLUE, WHITE, BLUE)
    params = TokenAnalogy.Params(layers=[0], temperature=0.01)  # attention ~ one-hot
    term = TokenAnalogy(params, _ctx(SeeThroughEncoder(), target))
    w_ref = torch.zeros(1, 1, 1)

    def loss(fake):
        return term(_step("adapt", fake=fake, source=sample,
                          source_reference=source_reference, w_ref=w_ref))

    assert loss(analogy).item() == pytest.approx(0, abs=1e-5)
    # unchanged sample: every token is compared with its analogy token (unit vectors)
    unit = torch.nn.functional.normalize
    expected = (unit(sample, dim=1) - unit(analogy, dim=1)).square().sum(1).mean()
    fake = sample.clone().requires_grad_(True)
    value = loss(fake)
    assert value.item() == pytest.approx(expected.item(), rel=1e-4)
    value.backward()
    assert fake.grad.abs().sum() > 0


def test_token_analogy_blends_with_a_high_temperature():
    source_reference = picture(RED, RED, GREEN, GREEN)
    target = picture(BLUE, BLUE, WHITE, WHITE)
    sample = picture(GREEN, RED, GREEN, RED)
    analogy = picture(WHITE, BLUE, WHITE, BLUE)
    hot = TokenAnalogy(TokenAnalogy.Params(layers=[0], temperature=100.0),
                         _ctx(SeeThroughEncoder(), target))
    step = _step("adapt", fake=analogy, source=sample, source_reference=source_reference,
                 w_ref=torch.zeros(1, 1, 1))
    # uniform attention: every token should become the mean target token, not its analogy
    assert hot(step).item() > 0.1


def test_errors_name_the_term_and_the_problem():
    see = SeeThroughEncoder()
    with pytest.raises(GanAdaptError, match="token_analogy needs a target image"):
        TokenAnalogy(TokenAnalogy.Params(), _ctx(see))
    with pytest.raises(GanAdaptError,
                       match=r"token_self_similarity: layer 3 does not exist.*2 blocks"):
        TokenSelfSimilarity(TokenSelfSimilarity.Params(layers=[3]), _ctx(see))
    with pytest.raises(GanAdaptError, match=r"layer -3 does not exist"):
        TokenSelfSimilarity(TokenSelfSimilarity.Params(layers=[-3]), _ctx(see))
    with pytest.raises(GanAdaptError, match="token_self_similarity needs a single ViT encoder"):
        TokenSelfSimilarity(TokenSelfSimilarity.Params(), _ctx(Ensemble([see, see], (0.5, 0.5))))
    term = TokenAnalogy(TokenAnalogy.Params(layers=[0]), _ctx(see, picture(*[RED] * 4)))
    with pytest.raises(GanAdaptError, match="needs the searched latent w_ref"):
        term(_step("adapt", fake=picture(*[RED] * 4), source=picture(*[RED] * 4)))
    with pytest.raises(ValidationError, match="layers must be distinct"):
        TokenSelfSimilarity.Params(layers=[0, 0])
    with pytest.raises(ValidationError):
        TokenAnalogy.Params(temperature=0)


@pytest.mark.parametrize("backend", ["clip", "dino"])
def test_token_maps_of_real_open_clip_and_timm_towers(backend):
    from gan_adapt.encoders.clip import tiny_clip
    from gan_adapt.encoders.dino import tiny_dino

    encoder = tiny_clip() if backend == "clip" else tiny_dino()
    maps = TokenMaps(encoder, [0, 1, -1], backend)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    out = maps(images)
    assert len(out) == 3
    grid = out[0].shape[-1]
    for m in out:
        assert m.shape[0] == 2 and m.shape[-2:] == (grid, grid)
        assert torch.allclose(m.norm(dim=1), torch.ones(2, grid, grid), atol=1e-4)
    assert not torch.allclose(out[0][:, :out[1].shape[1]], out[1])  # different layers
    target = images[:1]
    term = TokenSelfSimilarity(TokenSelfSimilarity.Params(encoder=backend, layers=[0, -1]),
                          _ctx(encoder, target))
    fake = images[1:].clone().requires_grad_(True)
    value = term(_step("search", fake=fake))
    value.backward()
    assert value.item() > 0 and fake.grad.abs().sum() > 0
    assert term(_step("search", fake=target)).item() == pytest.approx(0, abs=1e-6)


def test_the_old_names_are_the_same_terms_naming_themselves():
    target = picture(BLUE, BLUE, WHITE, WHITE)
    sample, fake = picture(GREEN, RED, GREEN, RED), picture(RED, WHITE, BLUE, GREEN)
    step = _step("adapt", fake=fake, source=sample,
                 source_reference=picture(RED, RED, GREEN, GREEN), w_ref=torch.zeros(1, 1, 1))
    params = {"layers": [0, 1], "temperature": 0.05}
    old = AttentiveStyle(AttentiveStyle.Params(**params), _ctx(SeeThroughEncoder(), target))
    new = TokenAnalogy(TokenAnalogy.Params(**params), _ctx(SeeThroughEncoder(), target))
    assert old(step).item() == pytest.approx(new(step).item()) and new(step).item() > 0
    old = SelfSimilarity(SelfSimilarity.Params(), _ctx(SeeThroughEncoder(), target))
    new = TokenSelfSimilarity(TokenSelfSimilarity.Params(), _ctx(SeeThroughEncoder(), target))
    search = _step("search", fake=fake)
    assert old(search).item() == pytest.approx(new(search).item()) and new(search).item() > 0
    with pytest.raises(GanAdaptError, match="^attentive_style needs a target image"):
        AttentiveStyle(AttentiveStyle.Params(), _ctx(SeeThroughEncoder()))
    with pytest.raises(GanAdaptError, match="^self_similarity: layer 3 does not exist"):
        SelfSimilarity(SelfSimilarity.Params(layers=[3]), _ctx(SeeThroughEncoder()))


def test_the_plugin_registers_the_honest_names_and_the_old_ones():
    from gan_adapt_tokens import plugin

    found: dict[str, dict[str, object]] = {"search": {}, "loss": {}}
    plugin.register_search_objectives(lambda name, factory: found["search"].update({name: factory}))
    plugin.register_losses(lambda name, factory: found["loss"].update({name: factory}))
    assert set(found["search"]) == {"key_self_similarity", "token_self_similarity",
                                    "self_similarity"}
    assert set(found["loss"]) == {"key_self_similarity", "token_self_similarity",
                                  "self_similarity", "difa_attentive_style", "token_analogy",
                                  "attentive_style"}
    loaded = {name: factory.load() for name, factory in found["loss"].items()}
    assert loaded["attentive_style"] is AttentiveStyle and \
        issubclass(AttentiveStyle, loaded["token_analogy"])
    assert issubclass(loaded["self_similarity"], loaded["token_self_similarity"])
    for name in ("attentive_style", "self_similarity"):  # `gan-adapt list` says so
        assert (loaded[name].__doc__ or "").startswith("Old name of token_")
    assert "DiFa" in loaded["difa_attentive_style"].__doc__
    assert "Splice" in loaded["key_self_similarity"].__doc__
