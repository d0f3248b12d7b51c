"""Every shipped recipe validates; the paper recipe fails offline with one complete message."""

from __future__ import annotations

import os
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
    out = tmp_path / "run"
    home = tmp_path / "home"
    result = gan_adapt("run", str(ROOT / "recipes" / "oneshotclip.toml"), "--out", str(out),
                       env={"GAN_ADAPT_OFFLINE": "1", "GAN_ADAPT_HOME": str(home)})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    err = result.stderr
    assert "3 pretrained weight file(s) are missing" in err
    for expected in [f"{home}/generators/ffhq-1024.pkl",
                     "stylegan2-ada-pytorch/pretrained/ffhq.pkl",
                     f"{home}/clip/ViT-B-32-openai.safetensors",
                     f"{home}/lpips/alexnet-owt-7be5be79.pth"]:
        assert expected in err, expected
    assert not out.exists()
