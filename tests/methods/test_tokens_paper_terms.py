"""The tokens plugin's paper terms against the papers' definitions, on hand-computed cases:
DiFa's attentive style loss (relaxed earth-mover's distance, ``difa_attentive_style``) and
Splice's structure descriptor (self-similarity of attention keys, ``key_self_similarity``).

DiFa (official ``remd_loss``): C = 1 - cos between the adapted image's and the reference's unit
tokens; each token takes its nearest match in both directions; the loss is the larger of the two
means; block-4 output tokens, class token dropped. Splice (official ``VitExtractor``): the keys
of the last block (the middle third of the qkv projection), class token included, heads
concatenated; cosine self-similarity; the loss is the mean squared difference of the matrices.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from gan_adapt_tokens.attention_keys import AttentionKeys, cosine_self_similarity
from gan_adapt_tokens.difa_style import DifaAttentiveStyle, relaxed_emd
from gan_adapt_tokens.key_self_similarity import KeySelfSimilarity
from pydantic import ValidationError
from torch import nn

from gan_adapt.encoders.base import EncoderBase
from gan_adapt.errors import GanAdaptError
from tests.methods.test_tokens_terms import (
    BLUE,
    GREEN,
    RED,
    SeeThroughEncoder,
    _ctx,
    _step,
    picture,
)


def _unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1).unsqueeze(0)


# --- DiFa: the relaxed earth-mover's distance -------------------------------------------------

def test_remd_takes_the_larger_of_the_two_directions():
    # the sample uses only e1; the reference has e1 and e2. Sample -> reference: every token
    # has an exact match (mean cost 0); reference -> sample: e2's nearest is e1 at cost
    # 1 - cos 90 deg = 1, so that mean is (0 + 1) / 2 = 0.5. The loss is 0.5, not the mean of
    # the directions (0.25) nor the first direction alone (0).
    sample, reference = _unit([1, 0], [1, 0]), _unit([1, 0], [0, 1])
    assert relaxed_emd(sample, reference).item() == pytest.approx(0.5)
    assert relaxed_emd(reference, sample).item() == pytest.approx(0.5)  # the max is symmetric


def test_remd_costs_are_one_minus_cosine():
    # sample {e1}, reference {e1, 60 deg}: costs 0 and 1 - 1/2; sample -> reference: 0;
    # reference -> sample: (0 + 0.5) / 2 = 0.25
    sample = _unit([1, 0])
    reference = _unit([1, 0], [0.5, math.sqrt(3) / 2])
    assert relaxed_emd(sample, reference).item() == pytest.approx(0.25)
    # sample {e1, e2}, reference {(e1 + e2) / sqrt 2}: every nearest cost is 1 - 1/sqrt 2
    both = relaxed_emd(_unit([1, 0], [0, 1]), _unit([1, 1]))
    assert both.item() == pytest.approx(1 - 1 / math.sqrt(2))


def test_remd_is_a_per_sample_max_averaged_over_the_batch():
    reference = _unit([1, 0], [0, 1])
    samples = torch.cat([_unit([1, 0], [1, 0]), _unit([1, 0], [0, 1])])  # 0.5 and 0
    assert relaxed_emd(samples, reference).item() == pytest.approx(0.25)


def test_remd_ignores_the_order_of_tokens():
    gen = torch.Generator().manual_seed(0)
    sample = F.normalize(torch.randn(2, 7, 5, generator=gen), dim=-1)
    reference = F.normalize(torch.randn(1, 9, 5, generator=gen), dim=-1)
    value = relaxed_emd(sample, reference)
    shuffled = relaxed_emd(sample[:, torch.randperm(7, generator=gen)],
                           reference[:, torch.randperm(9, generator=gen)])
    assert shuffled.item() == pytest.approx(value.item(), rel=1e-6)
    assert value.item() > 0


def test_difa_term_matches_tokens_wherever_they_are():
    # see-through ViT, layer 0: the tokens are the pixels' colours
    target = picture(RED, RED, GREEN, BLUE)
    term = DifaAttentiveStyle(DifaAttentiveStyle.Params(layers=[0]),
                              _ctx(SeeThroughEncoder(), target))
    # the same colours in another layout: a distance of 0 (no dependence on position), and the
    # term needs neither G_s(w) (source) nor the searched latent (w_ref)
    assert term(_step("adapt", fake=picture(BLUE, GREEN, RED, RED))).item() == \
        pytest.approx(0, abs=1e-6)
    # a sample without blue: its own tokens all have exact matches (0); the target's blue token
    # finds red or green at 1 - cos = 1 + 1/3, so the target's side is (0 + 0 + 0 + 4/3) / 4
    fake = picture(RED, GREEN, RED, GREEN).requires_grad_(True)
    value = term(_step("adapt", fake=fake))
    assert value.item() == pytest.approx(1 / 3, rel=1e-5)
    value.backward()
    assert fake.grad.abs().sum() > 0


def test_difa_reads_block_4_without_the_class_token_on_a_real_clip():
    from gan_adapt.encoders.clip import tiny_clip

    clip = tiny_clip()  # 2 blocks: the default layer 4 (DiFa's 4th block) does not exist
    assert DifaAttentiveStyle.Params().layers == [4]
    with pytest.raises(GanAdaptError, match="difa_attentive_style: layer 4 does not exist"):
        DifaAttentiveStyle(DifaAttentiveStyle.Params(), _ctx(clip, torch.zeros(1, 3, 32, 32)))
    gen = torch.Generator().manual_seed(3)
    target = torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1
    fake = torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1
    term = DifaAttentiveStyle(DifaAttentiveStyle.Params(layers=[2]), _ctx(clip, target))
    value = term(_step("adapt", fake=fake)).item()

    def block_2(images):  # the open_clip tower's tokens after block 2: [N, 1 + 16, C]
        out = clip.model.visual.forward_intermediates(
            clip.preprocess(images), indices=[1], intermediates_only=True, output_fmt="NLC",
            output_extra_tokens=True)
        return torch.cat([out["image_intermediates_prefix"][0],
                          out["image_intermediates"][0]], dim=1)

    def remd_by_loops(a, b):  # the definition, one pair of tokens at a time
        cost = [[1 - F.cosine_similarity(x, y, dim=0).item() for y in b] for x in a]
        forward = sum(min(row) for row in cost) / len(a)
        backward = sum(min(col) for col in zip(*cost)) / len(b)
        return max(forward, backward)

    with torch.no_grad():
        wanted, got = block_2(target)[0], block_2(fake)
    patches = sum(remd_by_loops(g[1:], wanted[1:]) for g in got) / 2
    with_cls = sum(remd_by_loops(g, wanted) for g in got) / 2
    assert value == pytest.approx(patches, rel=1e-4)
    assert abs(value - with_cls) > 1e-4  # the class token is really left out


def test_difa_needs_a_target_image():
    with pytest.raises(GanAdaptError, match="difa_attentive_style needs a target image"):
        DifaAttentiveStyle(DifaAttentiveStyle.Params(layers=[0]), _ctx(SeeThroughEncoder()))


# --- Splice: the self-similarity of attention keys ---------------------------------------------

CLS = [0.0, 0, 0, 1]


def _tokens(image):
    """The hand-made towers' tokens: the class token (0, 0, 0, 1), then each pixel (r, g, b, 0)."""
    pixels = image.flatten(2).transpose(1, 2)  # [N, 4, 3]
    n = pixels.shape[0]
    return torch.cat([torch.tensor(CLS).expand(n, 1, 4),
                      torch.cat([pixels, torch.zeros(n, 4, 1)], dim=2)], dim=1)


def _set_projection(weight, bias, k_weight, k_bias, width=4):
    """q and v rows zero, k rows given: reading the q or v third gives zero keys."""
    with torch.no_grad():
        weight.zero_()
        weight[width:2 * width] = k_weight
        if bias is not None:
            bias.zero_()
            bias[width:2 * width] = k_bias


def _attention(kind):
    """A real library attention module of width 4 with 2 heads of width 2."""
    if kind == "timm":
        from timm.layers.attention import Attention

        module = Attention(4, num_heads=2, qkv_bias=True)
        return module, (module.qkv.weight, module.qkv.bias)
    if kind == "open_clip":
        from open_clip.transformer import Attention

        module = Attention(4, num_heads=2)
        return module, (module.in_proj_weight, module.in_proj_bias)
    module = nn.MultiheadAttention(4, 2, batch_first=kind == "mha")
    return module, (module.in_proj_weight, module.in_proj_bias)


class HandMadeTower(nn.Module):
    """A 'ViT' on 2x2 images whose blocks' attention modules are real (timm's, open_clip's or
    torch's), with hand-set projections. The blocks add nothing to the tokens, so every block's
    input is :func:`_tokens`: the keys are that times the key rows, plus the key bias."""

    def __init__(self, kind, projections):
        super().__init__()
        self.kind = kind
        blocks = []
        for k_weight, k_bias in projections:
            attn, (weight, bias) = _attention(kind)
            _set_projection(weight, bias, k_weight, k_bias)
            blocks.append(SimpleNamespace(attn=attn))
        self.attns = nn.ModuleList(b.attn for b in blocks)  # parameters for the dtype lookup
        if kind == "timm":
            self.blocks = blocks
        else:
            self.transformer = SimpleNamespace(resblocks=blocks)

    def forward_intermediates(self, x, indices, stop_early, intermediates_only):
        assert stop_early and intermediates_only and len(indices) == 1
        tokens = _tokens(x)
        for attn in self.attns[:indices[0] + 1]:
            if self.kind == "mha":
                attn(tokens, tokens, tokens, need_weights=False)
            elif self.kind == "mha-seq-first":
                seq = tokens.transpose(0, 1)
                attn(seq, seq, seq, need_weights=False)
            else:
                attn(tokens)
        return []


class HandMadeEncoder(EncoderBase):
    def __init__(self, kind, projections):
        super().__init__(input_size=2, embed_dim=4, mean=(0.5,) * 3, std=(0.5,) * 3,
                         name="hand-made")
        self.model = nn.Module()
        self.model.visual = HandMadeTower(kind, projections)

    def encode(self, pixels):
        return pixels.mean((2, 3))


#: block 1 maps every token to the same key (its self-similarity is all ones); block 2's keys
#: are the tokens plus (0, 0, 0, 1): class token (0, 0, 0, 2), red (1, -1, -1, 1), green
#: (-1, 1, -1, 1)
BLOCKS = [(torch.zeros(4, 4), torch.tensor([1.0, 0, 0, 0])),
          (torch.eye(4), torch.tensor(CLS))]
#: the keys' cosines over all four channels (both heads together): class-pixel 2 / (2 * 2),
#: red-green (-1 - 1 + 1 + 1) / 4
S_RED_RED_GREEN_GREEN = [[1, .5, .5, .5, .5],
                         [.5, 1, 1, 0, 0],
                         [.5, 1, 1, 0, 0],
                         [.5, 0, 0, 1, 1],
                         [.5, 0, 0, 1, 1]]
KINDS = ["mha", "mha-seq-first", "open_clip", "timm"]


@pytest.mark.parametrize("kind", KINDS)
def test_keys_are_the_k_third_of_the_projection_with_the_class_token(kind):
    encoder = HandMadeEncoder(kind, BLOCKS)
    image = picture(RED, RED, GREEN, GREEN)
    last, first = AttentionKeys(encoder, [-1, 1], "t")(image)
    assert last.shape == (1, 5, 4)  # the class token and 4 patches, 2 heads x 2 concatenated
    assert torch.allclose(last, _tokens(image) + torch.tensor(CLS))
    assert torch.allclose(first, torch.tensor([1.0, 0, 0, 0]).expand(1, 5, 4))
    assert torch.allclose(cosine_self_similarity(last)[0],
                          torch.tensor(S_RED_RED_GREEN_GREEN), atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_key_structure_loss_is_the_mse_of_the_matrices(kind):
    target = picture(RED, RED, GREEN, GREEN)
    fake = picture(RED, GREEN, RED, GREEN).requires_grad_(True)
    # the layout R G R G swaps which pixel pairs are alike: 8 of the 25 entries go 1 <-> 0,
    # the class token's row and column (0.5) stay
    term = KeySelfSimilarity(KeySelfSimilarity.Params(), _ctx(HandMadeEncoder(kind, BLOCKS),
                                                                target))
    value = term(_step("search", fake=fake))
    assert value.item() == pytest.approx(8 / 25, rel=1e-5)
    value.backward()
    assert fake.grad.abs().sum() > 0
    # block 1's keys are all alike, so its distance is 0, and two blocks average
    both = KeySelfSimilarity(KeySelfSimilarity.Params(layers=[1, 2]),
                             _ctx(HandMadeEncoder(kind, BLOCKS), target))
    assert both(_step("search", fake=fake)).item() == pytest.approx(4 / 25, rel=1e-5)
    # appearance: the inverted target's keys are red (-1, 1, 1, 1), green (1, -1, 1, 1): the
    # same cosines (red-green 0, class-pixel 0.5), so the same structure
    assert term(_step("search", fake=-target)).item() == pytest.approx(0, abs=1e-6)


def test_key_structure_loss_compares_each_sample_with_its_source():
    encoder = HandMadeEncoder("timm", BLOCKS)
    term = KeySelfSimilarity(KeySelfSimilarity.Params(), _ctx(encoder))
    source = torch.cat([picture(RED, RED, GREEN, GREEN), picture(RED, GREEN, RED, GREEN)])
    recoloured = torch.cat([picture(BLUE, BLUE, GREEN, GREEN), picture(BLUE, GREEN, BLUE, GREEN)])
    # red -> blue keeps every cosine (blue-green is -1/3 like red-green, and blue's key
    # (-1, -1, 1, 1) is as far from green's as red's), so the loss is 0
    assert term(_step("adapt", fake=recoloured, source=source)).item() == \
        pytest.approx(0, abs=1e-6)
    assert term(_step("adapt", fake=source.flip(0), source=source)).item() == \
        pytest.approx(8 / 25, rel=1e-5)
    with pytest.raises(GanAdaptError, match="key_self_similarity in the search needs a target"):
        term(_step("search", fake=source))


def test_key_layers_are_blocks_and_distinct():
    encoder = HandMadeEncoder("timm", BLOCKS)
    with pytest.raises(ValidationError, match="layer 0 is the patch embedding"):
        KeySelfSimilarity.Params(layers=[0])
    with pytest.raises(GanAdaptError, match=r"key_self_similarity: layer 3 is not a block.*"
                                            r"2 blocks"):
        KeySelfSimilarity(KeySelfSimilarity.Params(layers=[3]), _ctx(encoder))
    with pytest.raises(GanAdaptError, match="name the same block twice"):
        KeySelfSimilarity(KeySelfSimilarity.Params(layers=[2, -1]), _ctx(encoder))

    class NoProjection(nn.Module):
        def forward(self, x):
            return x

    encoder.model.visual.blocks[0].attn = NoProjection()
    with pytest.raises(GanAdaptError, match="keys cannot be read"):
        AttentionKeys(encoder, [1], "key_self_similarity")


@pytest.mark.parametrize("backend", ["clip", "dino"])
def test_keys_of_real_open_clip_and_timm_towers(backend):
    from gan_adapt.encoders.clip import tiny_clip
    from gan_adapt.encoders.dino import tiny_dino

    encoder = tiny_clip() if backend == "clip" else tiny_dino()
    tower = encoder.model.visual if backend == "clip" else encoder.model
    blocks = tower.transformer.resblocks if backend == "clip" else tower.blocks
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    (keys,) = AttentionKeys(encoder, [-1], backend)(images)
    grid = 32 // (8 if backend == "clip" else 16)
    width = blocks[-1].attn.embed_dim if backend == "clip" else blocks[-1].attn.qkv.in_features
    assert keys.shape == (2, 1 + grid * grid, width)

    # the same keys from the last block's input, by hand: its layer norm, then the key rows
    inputs = {}
    handle = blocks[-1].register_forward_pre_hook(lambda m, args: inputs.update(x=args[0]))
    with torch.no_grad():
        tower(encoder.preprocess(images))
    handle.remove()
    block = blocks[-1]
    if backend == "clip":
        normed, weight, bias = block.ln_1(inputs["x"]), block.attn.in_proj_weight, \
            block.attn.in_proj_bias
    else:
        normed, weight, bias = block.norm1(inputs["x"]), block.attn.qkv.weight, \
            block.attn.qkv.bias
    expected = F.linear(normed, weight[width:2 * width], bias[width:2 * width])
    assert torch.allclose(keys, expected, atol=1e-5)
    if backend == "clip":  # and they are the keys the model attends with, head by head
        heads = block.attn.num_heads
        _, weights = block.attn(normed, normed, normed, need_weights=True,
                                average_attn_weights=False)
        q = F.linear(normed, weight[:width], bias[:width])
        split = (2, -1, heads, width // heads)
        q, k = q.view(split).transpose(1, 2), keys.view(split).transpose(1, 2)
        mine = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(width // heads), dim=-1)
        assert torch.allclose(mine, weights, atol=1e-5)

    target = images[:1]
    term = KeySelfSimilarity(KeySelfSimilarity.Params(encoder=backend), _ctx(encoder, target))
    fake = images[1:].clone().requires_grad_(True)
    value = term(_step("search", fake=fake))
    value.backward()
    assert value.item() > 0 and fake.grad.abs().sum() > 0
    assert term(_step("search", fake=target)).item() == pytest.approx(0, abs=1e-6)


def test_the_portraits_clip_keys_and_difa_tokens():
    from gan_adapt.encoders.clip import build_clip

    clip = build_clip("portraits-clip", "gan-adapt")
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    (keys,) = AttentionKeys(clip, [-1], "t")(images)
    assert keys.shape == (1, 1 + 8 * 8, 128)  # 32 px, 4-px patches, the class token; width 128
    # DiFa's default, the output of the 4th block, is this 4-block tower's last block
    term = DifaAttentiveStyle(DifaAttentiveStyle.Params(), _ctx(clip, images))
    assert term.maps.layers == [4]
    assert term(_step("adapt", fake=images)).item() == pytest.approx(0, abs=1e-5)
