"""Every shipped recipe validates; the paper recipe fails offline with one complete message."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.toml"))


def gan_adapt(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan_adapt.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, **(env or {})}, timeout=300)


def test_every_shipped_recipe_validates():
    assert len(RECIPES) >= 6
    result = gan_adapt("validate", *map(str, RECIPES))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": OK") == len(RECIPES)


def test_paper_recipe_offline_lists_every_missing_file_and_writes_nothing(tmp_path):
    """The download list names the paper's config-f generator, and states for every file the
    sha256 it will be checked against (or that it is recorded on first download)."""
    out = tmp_path / "run"
    home = tmp_path / "home"
    result = gan_adapt("run", str(ROOT / "recipes" / "oneshotclip.toml"), "--out", str(out),
                       env={"GAN_ADAPT_OFFLINE": "1", "GAN_ADAPT_HOME": str(home)})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    err = result.stderr
    assert "3 pretrained weight file(s) are missing" in err
    for expected in [f"{home}/generators/ffhq-1024-config-f.pkl",
                     "nvidia/research/stylegan2/versions/1/files/stylegan2-ffhq-1024x1024.pkl",
                     f"{home}/clip/ViT-B-32-openai.safetensors",
                     f"{home}/lpips/alexnet-owt-7be5be79.pth"]:
        assert expected in err, expected
    blocks = {b.split(" ", 1)[0]: b for b in err.split("\n  - ")[1:]}
    assert set(blocks) == {"ffhq-1024-config-f", "clip:ViT-B-32/openai", "lpips-backbone:alex"}
    assert re.search(r"sha256: [0-9a-f]{64}, size: 605,143,284 bytes",
                     blocks["clip:ViT-B-32/openai"])
    assert "sha256: unknown here: recorded on first download" in blocks["ffhq-1024-config-f"]
    assert "sha256: starting 7be5be79" in blocks["lpips-backbone:alex"]
    assert not out.exists()


def test_show_resolves_the_paper_recipes():
    """The resolved paper recipe: config-f generator, LPIPS at full resolution in the search and
    the reference steps, precision auto; extends merged and component defaults filled in."""
    import tomllib

    result = gan_adapt("validate", "--show", str(ROOT / "recipes" / "oneshotclip.toml"),
                       str(ROOT / "recipes" / "oneshotclip-256.toml"))
    assert result.returncode == 0, result.stderr
    texts = [t for t in re.split(r"(?m)^(?=# \S+, resolved by)", result.stdout) if t.strip()]
    paper, small = (tomllib.loads(t) for t in texts)
    assert paper["generator"]["params"] == {"checkpoint": "ffhq-1024-config-f", "which": "g"}
    assert paper["discriminator"]["params"]["checkpoint"] == "ffhq-1024-config-f"
    lpips = [t for t in paper["search"]["objective"] + paper["adapt"]["losses"]
             if t["name"] == "lpips"]
    assert len(lpips) == 2 and all(t["params"]["resize_to"] == "full" for t in lpips)
    assert paper["search"]["precision"] == paper["adapt"]["precision"] == "auto"
    # the paper's deliberate idle R1 interval: one note for both recipes, no warning
    assert result.stderr.count("r1_every = 16 ('patch_adversarial'): R1 never runs") == 1
    assert "note: adapt.losses[3].params.r1_every = 16" in result.stderr
    assert "warning" not in result.stderr
    assert "extends" not in small and small["name"] == "oneshotclip-256"
    patch_nce = next(t for t in small["adapt"]["losses"] if t["name"] == "patch_nce")
    assert {"encoder", "n_crops", "crop_size", "temperature"} <= set(patch_nce["params"])
