"""The example third-party plugin of docs/plugins.md: its loss by hand, its encoder, and a recipe
run through real entry-point discovery.

The package is not pip-installed (slow, needs a build backend, and would change the shared
venv). Instead a minimal ``.dist-info`` whose ``entry_points.txt`` is generated from the
package's own pyproject.toml is written to a temporary folder on PYTHONPATH, which is what
``importlib.metadata.entry_points(group="gan_adapt")`` reads for an installed package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from gan_adapt.plugin_host.context import TargetData

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "docs" / "examples" / "gan-adapt-example"
RECIPE = PACKAGE / "recipes" / "example-smoke.toml"


def write_dist_info(site: Path) -> Path:
    """A ``<name>-<version>.dist-info`` for the example package, from its pyproject.toml."""
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    folder = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                     f"Version: {project['version']}\n")
    lines = [f"{name} = {value}" for name, value in project["entry-points"]["gan_adapt"].items()]
    (folder / "entry_points.txt").write_text("[gan_adapt]\n" + "\n".join(lines) + "\n")
    return folder


@pytest.fixture
def example_on_path(tmp_path, monkeypatch):
    """The example package and its dist-info importable in this process."""
    site = tmp_path / "site"
    write_dist_info(site)
    monkeypatch.syspath_prepend(str(PACKAGE))
    monkeypatch.syspath_prepend(str(site))
    return site


def test_colour_moments_by_hand(example_on_path):
    from gan_adapt_example.colour_moments import ColourMoments

    target = torch.zeros(1, 3, 2, 2)
    target[0, 0] = torch.tensor([[1.0, -1.0], [1.0, -1.0]])  # red: mean 0, std 1
    ctx = SimpleNamespace(target=TargetData(image=target))
    term = ColourMoments(ColourMoments.Params(std_weight=0.5), ctx)
    fake = torch.full((2, 3, 2, 2), 0.5, requires_grad=True)  # every channel 0.5, std 0
    # per image: red (0.5 - 0)^2 + 0.5 (0 - 1)^2 = 0.75; green and blue 0.25 each -> 1.25
    loss = term(SimpleNamespace(fake=fake))
    assert loss.item() == pytest.approx(1.25)
    loss.backward()
    assert fake.grad.abs().sum() > 0


def test_resnet_backbone_is_a_unit_embedding_encoder(example_on_path):
    from gan_adapt_example.resnet import RESNET18_WEIGHTS, resnet18

    ctx = SimpleNamespace(device=torch.device("cpu"), resolve_path=lambda p: p)
    params = resnet18.Params(pretrained=False, input_size=32)
    encoder = resnet18(params, ctx)
    images = torch.rand(3, 3, 40, 40, requires_grad=True) * 2 - 1
    embeddings = encoder.embed_images(images)
    assert embeddings.shape == (3, 512)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(3), atol=1e-5)
    assert resnet18.required_weights(params, ctx) == []
    assert resnet18.required_weights(resnet18.Params(), ctx) == [RESNET18_WEIGHTS]


def test_entry_point_plugin_runs_a_recipe_end_to_end(tmp_path):
    site = tmp_path / "site"
    write_dist_info(site)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(PACKAGE)])}
    env.pop("GAN_ADAPT_LOAD_PLUGINS", None)
    result = subprocess.run(
        [sys.executable, "-m", "gan_adapt.cli", "run", str(RECIPE), "--out", str(out),
         "--set", "adapt.steps=2", "--set", "output.sample_every=2",
         "--set", "output.checkpoint_every=2"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    plugins = json.loads((out / "plugins.json").read_text())["plugins"]
    assert plugins["example"]["origin"] == "entry point gan-adapt-example"
    assert {"loss:colour_moments", "encoder:resnet18"} <= set(plugins["example"]["components"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"colour_moments", "clip_consistency"} <= set(metrics)
    # the observers: on_run_start named the recipe, on_step_end counted both steps (their
    # values included), on_run_end wrote the report with the final status
    report = json.loads((out / "example-report.json").read_text())
    assert report["recipe"] == "example-smoke" and report["steps_seen"] == 2
    assert report["last_adapt"]["step"] == 1 and report["status"] == "done"


def test_register_commands_adds_colour_stats_to_the_cli(example_on_path, tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from gan_adapt.cli.commands import cli

    image = tmp_path / "red.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(image)
    result = CliRunner().invoke(cli, ["colour-stats", str(image)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    mean, std = result.output.splitlines()[-2:]
    assert [float(v) for v in mean.split()[1:]] == pytest.approx([1.0, -1.0, -1.0], abs=1e-4)
    assert [float(v) for v in std.split()[1:]] == pytest.approx([0.0, 0.0, 0.0], abs=1e-4)
