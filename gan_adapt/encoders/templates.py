"""Prompt templates as recipe parameters (torch-free, so that validating a recipe stays cheap).

:data:`PromptTemplates` is the pydantic type of a term parameter that holds templates: at least
one, each with the ``{}`` slot where the text goes. :mod:`gan_adapt.encoders.prompts` embeds them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

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
