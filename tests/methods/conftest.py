"""Fixtures of the method tests: the tiny random StyleGAN2 shipped for smoke recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY_CHECKPOINT = ROOT / "recipes" / "assets" / "tiny-stylegan2-32.pt"


@pytest.fixture(scope="session")
def tiny_generator():
    """The 32-px random StyleGAN2 of the smoke recipes (frozen; tests must not train it)."""
    from gan_adapt.generators import load

    return load(TINY_CHECKPOINT).eval().requires_grad_(False)
