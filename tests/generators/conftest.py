"""Fixtures of the generator tests: the reference vectors (see tests/data/generators/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

DATA = Path(__file__).resolve().parents[1] / "data" / "generators"
ROS_CKPT = DATA / "ros64_rosinality_ckpt.pt"
NV32_PKL = DATA / "nv32_nvlabs_network-snapshot.pkl"
NV32C_PKL = DATA / "nv32c_nvlabs_network-snapshot.pkl"
PICKLES = {"nv32": NV32_PKL, "nv32c": NV32C_PKL}

#: Parity tolerances: about 10x the float32-vs-float64 error of the references themselves.
TOL_IMAGE = 1e-4  # images and feature maps
TOL_VECTOR = 1e-5  # w / ws and logits


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.double() - b.double()).abs().max().item()


@pytest.fixture(scope="session")
def ros_cases() -> dict:
    return torch.load(DATA / "ros64_rosinality_cases.pt", weights_only=True)


@pytest.fixture(scope="session")
def nv_cases() -> dict[str, dict]:
    return {tag: torch.load(DATA / f"{tag}_nvlabs_cases.pt", weights_only=True)
            for tag in PICKLES}


@pytest.fixture(scope="session")
def tiny_pair():
    """A tiny random (G, D), built once; tests that modify it must deep-copy it."""
    from gan_adapt.generators import tiny

    return tiny(resolution=16, channels=8, w_dim=16, seed=3)
