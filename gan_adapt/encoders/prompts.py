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

import torch.nn.functional as F
from torch import Tensor

from gan_adapt.encoders.base import ImageEncoder
from gan_adapt.encoders.templates import SLOT, PromptTemplates, check_templates, fill_template

__all__ = ["SLOT", "PromptTemplates", "check_templates", "fill_template", "prompt_embeddings",
           "mean_prompt_embedding", "prompt_direction"]


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
