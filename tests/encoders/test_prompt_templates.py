"""Prompt templates (gan_adapt.encoders.prompts) against hand computations with a tiny CLIP."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ValidationError

from gan_adapt.encoders.prompts import (
    PromptTemplates,
    check_templates,
    fill_template,
    mean_prompt_embedding,
    prompt_direction,
    prompt_embeddings,
)

TEMPLATES = ["a {} of a face.", "a {}.", "{}"]


def _one_by_one(encoder, prompts: list[str]) -> torch.Tensor:
    """``[T, D]``: each prompt through the text tower on its own, normalised here by hand."""
    rows = []
    for prompt in prompts:
        with torch.no_grad():
            features = encoder.model.encode_text(encoder.tokenizer([prompt])).float()
        rows.append(features[0] / features[0].norm())
    return torch.stack(rows)


def test_fill_template_replaces_every_slot_and_nothing_else():
    assert fill_template("a {} of a face.", "sketch") == "a sketch of a face."
    assert fill_template("{} and {}", "x") == "x and x"
    assert fill_template("a {0} photo of {}", "cat") == "a {0} photo of cat"


def test_prompt_embeddings_are_the_unit_embeddings_of_the_filled_templates(clip_encoder):
    got = prompt_embeddings(clip_encoder, "sketch", TEMPLATES)
    hand = _one_by_one(clip_encoder, ["a sketch of a face.", "a sketch.", "sketch"])
    assert got.shape == (3, clip_encoder.embed_dim)
    torch.testing.assert_close(got, hand, rtol=1e-5, atol=1e-6)


def test_mean_prompt_embedding_by_hand(clip_encoder):
    hand = _one_by_one(clip_encoder, ["a sketch of a face.", "a sketch.", "sketch"])
    mean = (hand[0] + hand[1] + hand[2]) / 3
    plain = mean_prompt_embedding(clip_encoder, "sketch", TEMPLATES, normalise=False)
    torch.testing.assert_close(plain, mean[None], rtol=1e-5, atol=1e-6)
    assert plain.norm().item() < 1 - 1e-4  # distinct unit rows: the plain mean is shorter
    unit = mean_prompt_embedding(clip_encoder, "sketch", TEMPLATES, normalise=True)
    torch.testing.assert_close(unit, (mean / mean.norm())[None], rtol=1e-5, atol=1e-6)


def test_mean_prompt_embedding_matches_the_formulas_the_plugins_used(clip_encoder):
    """Bit for bit what OneShotCLIP's text term and NADA's target embedding computed inline."""
    prompts = [t.replace("{}", "sketch") for t in TEMPLATES]
    before = clip_encoder.embed_text(prompts).mean(0, keepdim=True)
    assert torch.equal(mean_prompt_embedding(clip_encoder, "sketch", TEMPLATES,
                                             normalise=False), before)
    assert torch.equal(mean_prompt_embedding(clip_encoder, "sketch", TEMPLATES, normalise=True),
                       F.normalize(before, dim=-1))


def test_prompt_direction_by_hand(clip_encoder):
    source = _one_by_one(clip_encoder, ["a photo of a face.", "a photo.", "photo"])
    target = _one_by_one(clip_encoder, ["a sketch of a face.", "a sketch.", "sketch"])
    mean = (target - source).sum(0) / 3
    got = prompt_direction(clip_encoder, "photo", "sketch", TEMPLATES)
    torch.testing.assert_close(got, (mean / mean.norm())[None], rtol=1e-5, atol=1e-6)
    # reversing the texts reverses the direction
    torch.testing.assert_close(prompt_direction(clip_encoder, "sketch", "photo", TEMPLATES),
                               -got, rtol=1e-5, atol=1e-6)


class _Term(BaseModel):
    templates: PromptTemplates = ["{}"]


def test_templates_need_the_slot_and_at_least_one():
    assert check_templates(["a {}"]) == ["a {}"]
    assert _Term(templates=["a {}", "{} photo"]).templates == ["a {}", "{} photo"]
    with pytest.raises(ValidationError,
                       match=r"every template needs a \{\} where the text goes: \['a photo'\]"):
        _Term(templates=["a {}", "a photo"])
    with pytest.raises(ValidationError, match="at least 1 item"):
        _Term(templates=[])
