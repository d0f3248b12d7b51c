"""Every pretrained weights file gan-adapt knows by name, for ``gan-adapt weights``.

The catalog is the union of the generator zoo, the pinned CLIP and DINO files, the LPIPS
backbones and the FID Inception network. For each file it tells the URL, the expected sha256 and
size (pinned, recorded on first download, or not known yet) and whether the file is in the cache.
Listing never hashes a file (that happens on every load); it is meant to be instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gan_adapt.weights.download import KnownWeights


@dataclass(frozen=True)
class CatalogRow:
    """One known file and its state in the cache."""

    weights: KnownWeights
    aliases: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: name, aliases, url, path, sha256, size, where they come from, cached."""
        w = self.weights
        expected = w.expected()
        return {
            "name": w.name, "aliases": list(self.aliases), "kind": w.subdir,
            "format": w.format, "url": w.url, "path": str(w.cache_path),
            "sha256": expected.sha256, "sha256_prefix": expected.prefix, "size": expected.size,
            "hash_source": ("pinned" if w.sha256 else "recorded on first download"
                            if expected.sha256 else "unknown here: recorded on first download"),
            "cached": w.cache_path.is_file(), "description": w.description,
        }


def known_weights() -> list[CatalogRow]:
    """Every named file, generators first, each with the aliases that resolve to it."""
    from gan_adapt.encoders.weights import CLIP_WEIGHTS, DINO_WEIGHTS, LPIPS_BACKBONES
    from gan_adapt.evaluation.features import INCEPTION_WEIGHTS
    from gan_adapt.weights import zoo

    aliases: dict[str, list[str]] = {}
    for alias, name in zoo.ALIASES.items():
        aliases.setdefault(name, []).append(alias)
    rows = [CatalogRow(zoo.CATALOG[name], tuple(sorted(aliases.get(name, []))))
            for name in zoo.names()]
    for table in (CLIP_WEIGHTS, DINO_WEIGHTS, LPIPS_BACKBONES):
        rows += [CatalogRow(w, ()) for w in table.values()]
    rows.append(CatalogRow(INCEPTION_WEIGHTS, ()))
    return rows


def render_table(rows: list[CatalogRow]) -> Any:
    """A rich table of the catalog (one row per file)."""
    from rich.table import Table

    table = Table("name", "url", "size (bytes)", "sha256", "cached", show_lines=True)
    for row in rows:
        data = row.as_dict()
        name = data["name"] + (f"\n(alias: {', '.join(row.aliases)})" if row.aliases else "")
        size = f"{data['size']:,}" if data["size"] is not None else "recorded on first download"
        if data["sha256"]:
            sha = data["sha256"] + ("" if data["hash_source"] == "pinned"
                                    else "\n(recorded on first download)")
        elif data["sha256_prefix"]:
            sha = f"{data['sha256_prefix']}... (from the file name); full hash recorded on " \
                  "first download"
        else:
            sha = data["hash_source"]
        table.add_row(name, data["url"], size, sha, "yes" if data["cached"] else "no")
    return table
