"""The committed recipe reference must match the models it documents."""

from gan_adapt.recipe import reference_doc


def test_recipe_reference_is_up_to_date():
    committed = reference_doc.DOC_PATH.read_text(encoding="utf-8")
    assert committed == reference_doc.render(), (
        "docs/recipe-reference.md is out of date: run `python -m gan_adapt.recipe.reference_doc`")


def test_reference_documents_every_recipe_field():
    text = reference_doc.render()
    for _, model in reference_doc._SECTIONS:
        for name in model.model_fields:
            assert f"| `{name}` |" in text, name
