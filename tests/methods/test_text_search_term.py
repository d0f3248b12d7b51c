"""OneShotCLIP's text-mode search term against hand-computed values."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from gan_adapt_oneshotclip.text import ClipTextDistance
from pydantic import ValidationError

from gan_adapt.errors import GanAdaptError
from gan_adapt.plugin_host.context import TargetData
from tests.methods.fakes import ColourEncoder, colour_images

NO_AUGMENT = {"affine_degrees": 0, "translate": 0, "shear": 0, "perspective": 0, "jitter": 0,
              "erase_p": 0}


def test_text_distance_by_hand_averages_templates():
    enc = ColourEncoder({"a sketch": [0, 0, 1], "the sketch": [0, 1, 0]})
    ctx = SimpleNamespace(encoder=lambda name: enc, target=TargetData(text="sketch"))
    params = ClipTextDistance.Params(templates=["a {}", "the {}"], n_aug=3, augment=NO_AUGMENT)
    term = ClipTextDistance(params, ctx)
    fake = colour_images([0, 1, 1], [1, 0, 0]).requires_grad_(True)
    loss = term(SimpleNamespace(fake=fake))
    # mean text embedding (0, 1/2, 1/2); image 0 is (0, 1, 1)/sqrt2 -> cos 1/sqrt2, image 1 -> 0
    expected = ((1 - 1 / math.sqrt(2)) + 1) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    loss.backward()
    assert fake.grad.abs().sum() > 0


def test_text_distance_needs_a_text():
    ctx = SimpleNamespace(encoder=lambda name: ColourEncoder(), target=TargetData(image=None))
    with pytest.raises(GanAdaptError, match="target.text"):
        ClipTextDistance(ClipTextDistance.Params(), ctx)


def test_text_distance_templates_need_the_slot():
    with pytest.raises(ValidationError, match="every template needs a \\{\\} where the text goes"):
        ClipTextDistance.Params(templates=["a {}", "a sketch"])
    with pytest.raises(ValidationError, match="at least 1 item"):
        ClipTextDistance.Params(templates=[])
