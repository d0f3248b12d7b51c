"""Text prompts through templates: the CLIP text embeddings that text-guided terms aim at.

A description such as ``"sketch"`` is put into prompt templates (``"a {} of a face."``) and each
prompt is embedded by the encoder's text tower (:meth:`ImageEncoder.embed_text`, unit rows);
averaging over the templates makes the target less sensitive to one wording (the CLIP paper's
prompt ensembling, used by StyleGAN-NADA and OneShotCLIP's text mode).

Recipe parameters that hold templates use :data:`PromptTemplates`, which rejects a template
without the ``{}`` slot before anything is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch.nn.functional as F
from pydantic import AfterValidator, Field
from torch import Tensor

from gan_adapt.encoders.base import ImageEncoder

SLOT = "{}"  # where a template takes the text


def fill_template(template: str, text: str) -> str:
    """``template`` with ``text`` in place of every ``{}``: ``"a {} of a face"`` -> ``"a sketch
    of a face"``. Plain replacement, so other braces in the template stay as they are."""
    return template.replace(SLOT, text)


def check_templates(templates: list[str]) -> list[str]:
    """``templates`` unchanged; raises ``ValueError`` (a pydantic validation error in a recipe)
    naming the templates that have no ``{}`` slot."""
    bad = [t for t in templates if SLOT not in t]
    if bad:
        raise ValueError(f"every template needs a {{}} where the text goes: {bad}")
    return templates


#: A term parameter of prompt templates: at least one, each with a ``{}`` slot.
PromptTemplates = Annotated[list[str], Field(min_length=1), AfterValidator(check_templates)]


def prompt_embeddings(encoder: ImageEncoder, text: str, templates: Sequence[str]) -> Tensor:
    """``[T, D]``: the unit text embedding of ``text`` in each of the ``T`` templates."""
    return encoder.embed_text([fill_template(t, text) for t in templates])


def mean_prompt_embedding(encoder: ImageEncoder, text: str, templates: Sequence[str], *,
                          normalise: bool) -> Tensor:
    """``[1, D]``: the mean over templates of the unit embeddings of ``text``.

    ``normalise=True`` scales the mean back to unit length (a point on the embedding sphere,
    as StyleGAN-NADA's target embedding). ``normalise=False`` keeps the plain mean, so that a
    loss ``1 - e @ mean.T`` is exactly the mean of the per-template losses (OneShotCLIP's text
    search).
    """
    mean = prompt_embeddings(encoder, text, templates).mean(0, keepdim=True)
    return F.normalize(mean, dim=-1) if normalise else mean


def prompt_direction(encoder: ImageEncoder, source: str, target: str,
                     templates: Sequence[str]) -> Tensor:
    """``[1, D]`` unit direction from ``source`` to ``target`` text (StyleGAN-NADA's text
    direction): the mean over templates of T(target) - T(source), each T of unit length, scaled
    to length one."""
    difference = (prompt_embeddings(encoder, target, templates)
                  - prompt_embeddings(encoder, source, templates))
    return F.normalize(difference.mean(0, keepdim=True), dim=-1)
