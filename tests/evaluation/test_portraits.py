"""The procedural portraits domain, its captions and the two new known transforms."""

from __future__ import annotations

import random

import pytest
import torch

from gan_adapt.synthetic_data.known_transforms import TRANSFORMS
from gan_adapt.synthetic_data.portraits import (
    ATTRIBUTES,
    CONTENT_ATTRIBUTES,
    DOMAINS,
    PortraitStream,
    attribute_prompts,
    caption,
    domain_prompts,
    portraits_batch,
)


def batch(n: int = 64, resolution: int = 32, seed: int = 0):
    return portraits_batch(n, resolution, torch.Generator().manual_seed(seed))


def test_portraits_are_seeded_in_range_and_recorded():
    a, b, c = batch(8, seed=1), batch(8, seed=1), batch(8, seed=2)
    assert a.images.shape == (8, 3, 32, 32)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert a.images.min() >= -1 and a.images.max() <= 1
    assert set(a.attributes) == set(ATTRIBUTES)
    for name, values in a.attributes.items():
        assert values.shape == (8,) and int(values.max()) < len(ATTRIBUTES[name])
    record = a.record(0)
    assert all(record[name] in ATTRIBUTES[name] for name in ATTRIBUTES)
    assert set(CONTENT_ATTRIBUTES) <= set(ATTRIBUTES)


def test_stream_position_can_be_saved_and_restored():
    stream = PortraitStream(16, seed=3)
    stream.images(4)
    state = stream.state()
    first = stream.next(4)
    stream.set_state(state)
    again = stream.next(4)
    assert torch.equal(first.images, again.images)
    assert all(torch.equal(first.attributes[k], again.attributes[k]) for k in ATTRIBUTES)


def _region(images: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
    """Mean luma of a region of [-1, 1] images, per sample."""
    return ((images[:, :, rows, cols] + 1) / 2).mean(dim=(1, 2, 3))


def test_attributes_change_the_pixels_where_a_person_would_look():
    p = batch(256, seed=0)
    x, attrs = p.images, p.attributes
    eyes = _region(x, slice(12, 17), slice(8, 24))
    sunglasses, none = attrs["eyewear"] == 2, attrs["eyewear"] == 0
    assert eyes[sunglasses].mean() < eyes[none].mean() - 0.1  # dark lenses
    # Long hair reaches the sides of the neck; short hair and bald heads leave background there.
    sides = (x[:, :, 22:27, 4:7] - x[:, :, 1:3, 1:3].mean(dim=(2, 3), keepdim=True)).abs()
    sides = sides.mean(dim=(1, 2, 3))
    assert sides[attrs["hair_style"] == 1].mean() > sides[attrs["hair_style"] == 2].mean() + 0.1
    # Each hair colour is visible: the top of the head differs by colour when not bald.
    hair = attrs["hair_style"] != 2
    top = x[:, :, 4:7, 13:19].mean(dim=(2, 3))
    black, blonde = hair & (attrs["hair_colour"] == 0), hair & (attrs["hair_colour"] == 2)
    assert top[blonde].mean() > top[black].mean() + 0.5


def test_captions_name_domain_and_content():
    record = {"skin": "tan", "hair_colour": "red", "hair_style": "short",
              "expression": "smiling", "eyewear": "glasses", "background": "blue"}
    text = caption(record, "sketch")
    assert text.startswith("a pencil sketch of a smiling face with short red hair and glasses")
    assert "tan skin" in text and "blue background" in text
    bald = caption({**record, "hair_style": "bald"}, "photo")
    assert "a bald head" in bald and "red" not in bald
    rng = random.Random(0)
    partial = {caption(record, "invert", rng=rng, keep=0.5) for _ in range(40)}
    assert len(partial) > 5 and all(t.startswith("a colour negative of a") for t in partial)
    assert set(domain_prompts()) == set(DOMAINS) == {"photo", *TRANSFORMS}
    prompts = attribute_prompts("hatch")
    assert {k: len(v) for k, v in prompts.items()} == {k: len(v) for k, v in ATTRIBUTES.items()}
    assert all(p.startswith("a hatched ink drawing of a") for v in prompts.values() for p in v)


@pytest.mark.parametrize("name", ["watercolour", "hatch"])
def test_new_transforms_are_deterministic_stylisations(name):
    x = batch(8).images
    y = TRANSFORMS[name](x)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    assert torch.equal(y, TRANSFORMS[name](x))
    assert (y - x).abs().mean() > 0.1  # a real change of style
    assert not torch.equal(y[0], y[1])  # that keeps each image's content apart


def test_hatch_is_black_ink_on_white():
    y = TRANSFORMS["hatch"](batch(8).images)
    assert set(torch.unique(y).tolist()) <= {-1.0, 1.0}
    assert torch.equal(y[:, 0], y[:, 1])
