"""StyleGAN-NADA's directional loss and adaptive layer selection against hand-computed values."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from gan_adapt_nada.clip_space import directional_loss, mean_direction, members
from gan_adapt_nada.directional import ClipDirectional
from gan_adapt_nada.layers import AdaptiveLayers, code_movement, select_layers, top_layers
from pydantic import ValidationError

from gan_adapt.encoders.prompts import mean_prompt_embedding, prompt_direction
from gan_adapt.errors import GanAdaptError
from gan_adapt.plugin_host.context import TargetData
from tests.methods.fakes import ColourEncoder, Ensemble, colour_images, cos3, engine_step

R2 = 1 / math.sqrt(2)


def test_directional_loss_by_hand_with_min_norm():
    delta = torch.tensor([[3.0, 4.0], [0.0, 0.001]])
    direction = torch.tensor([[1.0, 0.0]])
    # row 0: 1 - 3/5; row 1: shorter than min_norm, divided by 0.01: (0, 0.1) . (1, 0) = 0
    assert directional_loss(delta, direction, 0.01).item() == pytest.approx((0.4 + 1.0) / 2)
    per_row = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # row 1 now points along its own direction: (0, 0.1) . (0, 1) = 0.1 -> 0.9
    assert directional_loss(delta, per_row, 0.01).item() == pytest.approx((0.4 + 0.9) / 2)
    zero = torch.zeros(1, 2, requires_grad=True)
    loss = directional_loss(zero, direction, 0.01)
    loss.backward()
    assert loss.item() == 1.0 and zero.grad.abs().max().item() == pytest.approx(100.0)


def test_text_direction_and_embedding_average_templates():
    enc = ColourEncoder({"a x": [1, 0, 0], "the x": [0, 1, 0],
                         "a y": [0, 0, 1], "the y": [0, 1, 0]})
    # differences (-1, 0, 1) and (0, 0, 0): mean (-1/2, 0, 1/2), unit (-1/sqrt2, 0, 1/sqrt2)
    direction = prompt_direction(enc, "x", "y", ["a {}", "the {}"])
    assert direction.tolist()[0] == pytest.approx([-R2, 0.0, R2])
    # T(y) averaged over templates: (0, 1/2, 1/2), unit (0, 1/sqrt2, 1/sqrt2)
    goal = mean_prompt_embedding(enc, "y", ["a {}", "the {}"], normalise=True)
    assert goal.tolist()[0] == pytest.approx([0, R2, R2])


def test_mean_direction_and_members():
    source = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    target = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # (0, 1/2, 1/2) - (1, 0, 0) = (-1, 1/2, 1/2), length sqrt(3/2)
    expected = [x / math.sqrt(1.5) for x in (-1, 0.5, 0.5)]
    assert mean_direction(source, target).tolist()[0] == pytest.approx(expected)
    single = ColourEncoder()
    assert members(single) == [(single, 1.0)]
    a, b = ColourEncoder(), ColourEncoder()
    assert members(Ensemble([a, b], (0.25, 0.75))) == [(a, 0.25), (b, 0.75)]


def _ctx(encoder, **target):
    return SimpleNamespace(encoder=lambda name: encoder, target=TargetData(**target),
                           generator=None, device=torch.device("cpu"))


def test_text_directional_term_by_hand():
    enc = ColourEncoder({"photo": [1, 0, 0], "sketch": [0, 0, 1]})
    term = ClipDirectional(ClipDirectional.Params(), _ctx(enc, text="sketch",
                                                          source_text="photo"))
    source = colour_images([1, 0, 0], [1, 0, 0])
    fake = colour_images([0, 0, 1], [1, 1, 0]).requires_grad_(True)
    loss = term(engine_step(source=source, fake=fake))
    # direction (-1, 0, 1)/sqrt2; sample 0 moves exactly along it (loss 0); sample 1 moves by
    # (1/sqrt2 - 1, 1/sqrt2, 0)
    moved = [R2 - 1, R2, 0.0]
    expected = (0.0 + (1 - cos3(moved, [-1, 0, 1]))) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    loss.backward()
    assert fake.grad.abs().sum() > 0


def test_ensemble_members_are_averaged_with_their_weights():
    texts = {"photo": [1, 0, 0], "sketch": [0, 0, 1]}
    plain, tinted = ColourEncoder(texts), ColourEncoder(texts, scale=(1.0, 1.0, 3.0))
    params = ClipDirectional.Params(source_text="photo", target_text="sketch")
    source, fake = colour_images([1, 0, 0]), colour_images([1, 1, 1])

    def loss_of(encoder):
        return ClipDirectional(params, _ctx(encoder))(engine_step(source=source, fake=fake))

    # by hand: plain moves (1/sqrt3 - 1, 1/sqrt3, 1/sqrt3); tinted (1/sqrt11 - 1, ., 3/sqrt11)
    r3, r11 = 1 / math.sqrt(3), 1 / math.sqrt(11)
    l_plain = 1 - cos3([r3 - 1, r3, r3], [-1, 0, 1])
    l_tinted = 1 - cos3([r11 - 1, r11, 3 * r11], [-1, 0, 1])
    assert loss_of(plain).item() == pytest.approx(l_plain, abs=1e-6)
    ensemble = Ensemble([plain, tinted], (0.25, 0.75))
    assert loss_of(ensemble).item() == pytest.approx(0.25 * l_plain + 0.75 * l_tinted, abs=1e-6)


class ConstantGenerator:
    """Every latent renders the same red image; w_ref renders a green one."""

    z_dim = 2
    w_avg = torch.zeros(2)

    def mapping(self, z):
        return torch.zeros(z.shape[0], 3, 2)

    def synthesis(self, ws, noise_mode="const"):
        colour = [0, 1, 0] if float(ws.sum()) == 1.0 else [1, 0, 0]
        return colour_images(*([colour] * ws.shape[0]))


def test_images_direction_from_source_samples_to_target_images():
    enc = ColourEncoder()
    ctx = _ctx(enc, images=colour_images([0, 1, 0], [0, 0, 1]))
    ctx.generator = ConstantGenerator()
    term = ClipDirectional(ClipDirectional.Params(direction="images", source_samples=5), ctx)
    expected = [x / math.sqrt(1.5) for x in (-1, 0.5, 0.5)]  # as in test_mean_direction
    assert term.directions[0].tolist()[0] == pytest.approx(expected)
    assert term.goals[0].tolist()[0] == pytest.approx([0, R2, R2])


def test_reference_direction_is_computed_from_w_ref_on_first_use():
    enc = ColourEncoder()
    term = ClipDirectional(ClipDirectional.Params(direction="reference"),
                           _ctx(enc, image=colour_images([0, 0, 1])))
    assert term.directions is None
    w_ref = torch.zeros(1, 3, 2)
    w_ref[0, 0, 0] = 1.0  # ConstantGenerator renders this one green
    step = engine_step(source=colour_images([1, 0, 0]), fake=colour_images([0, 0, 1]),
                       w_ref=w_ref, source_generator=ConstantGenerator())
    loss = term(step)
    # direction: blue - green = (0, -1, 1)/sqrt2; the edit: blue - red = (-1, 0, 1)/sqrt2
    assert term.directions[0].tolist()[0] == pytest.approx([0, -R2, R2])
    assert loss.item() == pytest.approx(1 - cos3([-1, 0, 1], [0, -1, 1]), abs=1e-6)
    with pytest.raises(GanAdaptError, match="w_ref"):
        fresh = ClipDirectional(ClipDirectional.Params(direction="reference"),
                                _ctx(enc, image=colour_images([0, 0, 1])))
        fresh(engine_step(source=step.source, fake=step.fake, w_ref=None,
                          source_generator=ConstantGenerator()))


def test_user_errors_are_clear():
    enc = ColourEncoder({"x": [1, 0, 0]})
    with pytest.raises(GanAdaptError, match="source and a target description"):
        ClipDirectional(ClipDirectional.Params(), _ctx(enc, text="x"))
    with pytest.raises(GanAdaptError, match="target image"):
        ClipDirectional(ClipDirectional.Params(direction="images"), _ctx(enc, text="x"))
    with pytest.raises(ValidationError, match="needs a \\{\\}"):
        ClipDirectional.Params(templates=["a photo"])


def test_top_layers_by_hand():
    movement = torch.tensor([0.1, 0.5, 0.3, 0.9, 0.2])
    assert top_layers(movement, n_layers=4, k=2) == [1, 3]
    assert top_layers(movement, n_layers=4, k=10) == [0, 1, 2, 3]  # k is capped
    assert top_layers(movement, n_layers=3, k=1) == [1]  # the last code is no candidate


class IdentitySynthesis(torch.nn.Module):
    """Renders the W+ codes themselves; five 'styled convs' to choose from."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = torch.nn.ModuleList(torch.nn.Linear(1, 1) for _ in range(5))

    def forward(self, ws, noise_mode="const"):
        return ws

    def noise_layers(self):
        return list(self.convs)


class CodeGenerator(torch.nn.Module):
    z_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.synthesis = IdentitySynthesis()
        self.register_buffer("w_avg", torch.zeros(4))

    def mapping(self, z):
        return torch.zeros(z.shape[0], 6, 4)


def test_code_movement_and_layer_choice_by_hand():
    G = CodeGenerator()
    # d loss / d w: 2 on code 3 and 1 on code 1, everywhere in the batch and the 4 dims
    def goal(ws):
        return 2 * ws[:, 3].sum() + ws[:, 1].sum()

    settings = AdaptiveLayers(k=2, iters=1, batch=3, lr=0.01)
    movement = code_movement(G, G, goal, settings)
    assert movement.tolist() == pytest.approx([0, 0.01, 0, 0.02, 0, 0])
    chosen = select_layers(G, G, goal, settings)
    expected = [*G.synthesis.convs[1].parameters(), *G.synthesis.convs[3].parameters()]
    assert [id(p) for p in chosen] == [id(p) for p in expected]
    assert all(p.grad is None for p in G.parameters())  # the ranking trains nothing


def test_select_parameters_only_with_adaptive_layers(tiny_generator):
    enc = ColourEncoder({"photo": [1, 0, 0], "sketch": [0, 0, 1]})
    ctx = _ctx(enc, text="sketch", source_text="photo")
    plain = ClipDirectional(ClipDirectional.Params(), ctx)
    assert plain.select_parameters(SimpleNamespace()) is None
    adaptive = ClipDirectional(ClipDirectional.Params(adaptive_layers={"k": 2, "batch": 2}), ctx)
    G_s, G_t = tiny_generator, tiny_generator
    chosen = adaptive.select_parameters(SimpleNamespace(source_generator=G_s, generator=G_t))
    convs = G_t.synthesis.noise_layers()
    owners = [i for i, layer in enumerate(convs)
              if any(p is q for p in layer.parameters() for q in chosen)]
    assert len(owners) == 2 and len(chosen) == 2 * len(list(convs[0].parameters()))
