"""Every shipped recipe has its paragraph in docs/recipes.md, and the page names no recipe that
does not exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sections() -> dict[str, str]:
    """``### `file.toml` `` heading -> the text under it."""
    text = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    parts = re.split(r"^### `([^`]+)`\s*$", text, flags=re.M)
    return {name: body.split("\n## ")[0].strip() for name, body in zip(parts[1::2], parts[2::2])}


def test_every_recipe_has_a_description_saying_when_to_use_it():
    documented = sections()
    shipped = sorted(p.name for p in (ROOT / "recipes").glob("*.toml"))
    missing = [name for name in shipped if name not in documented]
    assert not missing, f"docs/recipes.md has no section for {missing}"
    for name in shipped:
        body = documented[name]
        assert len(body.split()) >= 20 and "Use it" in body, f"{name}: say when to use it"


def test_the_page_documents_only_existing_recipes():
    stale = [name for name in sections() if not (ROOT / "recipes" / name).is_file()]
    assert not stale, f"docs/recipes.md documents missing recipe(s) {stale}"
