"""Fixtures of the encoder tests: offline, isolated cache, tiny random models."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
import torch


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """No test may touch the network or the user's cache."""
    home = tmp_path_factory.mktemp("gan-adapt-home")
    monkeypatch.setenv("GAN_ADAPT_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GAN_ADAPT_HOME", str(home))

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return home


@pytest.fixture(scope="session")
def clip_encoder():
    from gan_adapt.encoders import tiny_clip

    return tiny_clip(seed=0)


@pytest.fixture(scope="session")
def dino_encoder():
    from gan_adapt.encoders import tiny_dino

    return tiny_dino(seed=0)


@pytest.fixture(params=["clip", "dino"])
def encoder(request, clip_encoder, dino_encoder):
    """Each single-backbone encoder in turn."""
    return {"clip": clip_encoder, "dino": dino_encoder}[request.param]


@pytest.fixture
def images():
    """Two generator-range images of a size different from the encoders' input size."""
    generator = torch.Generator().manual_seed(0)
    return torch.rand(2, 3, 48, 48, generator=generator) * 2 - 1


@pytest.fixture
def ctx(tmp_path):
    """The factory context the lead's registry passes: a device and a recipe-relative resolver."""
    return SimpleNamespace(device=torch.device("cpu"), resolve_path=lambda p: tmp_path / p)
