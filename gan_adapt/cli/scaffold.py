"""``gan-adapt new-plugin NAME``: a complete, installable plugin package to start from.

The package has everything docs/plugins.md describes, each piece a small worked example that
runs offline on tiny models:

    gan-adapt-NAME/
        pyproject.toml                 distribution, entry point (group ``gan_adapt``), test extra
        README.md
        gan_adapt_NAME/__init__.py     __version__ (shown by ``gan-adapt plugins``)
        gan_adapt_NAME/plugin.py       the @hookimpl registrations (lazy: cheap to load)
        gan_adapt_NAME/params.py       the components' params models (torch-free)
        gan_adapt_NAME/loss.py         a loss term on an encoder's embeddings
        gan_adapt_NAME/search.py       a search objective on pixels
        gan_adapt_NAME/encoder.py      an encoder backbone (EncoderBase subclass)
        recipes/NAME-smoke.toml        a recipe using all three on tiny offline models
        recipes/assets/                a tiny random StyleGAN2 checkpoint and a target image
        tests/test_NAME.py             contract and recipe tests (test kit of gan_adapt.plugin)

``pytest gan-adapt-NAME/tests`` passes and
``gan-adapt run gan-adapt-NAME/recipes/NAME-smoke.toml --plugins-dir gan-adapt-NAME`` runs,
installed or not: ``--plugins-dir`` reads a package folder's entry points from its
``pyproject.toml``, the tests run the recipe in-process with :func:`gan_adapt.testing.run_recipe`,
and the recipe's ``requires`` names the entry point, which is the plugin's name either way.
``pip install -e gan-adapt-NAME`` makes it a plugin of every command, without the option.
The generated code passes ``ruff check`` with the rules its ``pyproject.toml`` sets.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from gan_adapt.errors import InputError

#: The whole name must match (``fullmatch``: a ``$`` would let a trailing newline through).
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
#: Longer names would push the generated code past its 100-character lines.
MAX_NAME_LENGTH = 24


def names(name: str) -> dict[str, str]:
    """The names a plugin called ``name`` uses (see docs/plugins.md, naming conventions)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise InputError(f"new-plugin {name!r}: a plugin name is lower-case letters and digits, "
                         "words joined by '-' or '_', starting with a letter, at most "
                         f"{MAX_NAME_LENGTH} characters (longer names would push the generated "
                         "code past its 100-character lines), no spaces or control characters "
                         "(e.g. 'sketch-loss')")
    snake = name.replace("-", "_")
    return {"name": name, "snake": snake, "dist": f"gan-adapt-{name.replace('_', '-')}",
            "package": f"gan_adapt_{snake}", "loss": f"{snake}_embedding",
            "objective": f"{snake}_pixels", "encoder": f"{snake}_pool"}


def create(name: str, out: str | Path = ".") -> Path:
    """Write the package for plugin ``name`` into ``out`` (refusing to overwrite anything);
    return its folder."""
    from gan_adapt._version import __version__

    n = names(name)
    out = Path(out)
    root = out / n["dist"]
    if root.exists() or root.is_symlink():
        raise InputError(f"{root} already exists; choose another name or --out folder")
    files = {path.format(**n): _fill(text, n, __version__) for path, text in TEMPLATES.items()}
    # Built in a temporary folder beside the destination, then renamed into place (one atomic
    # step on one file system): a failure half-way leaves nothing behind.
    created = _first_missing(out)
    staging = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{n['dist']}.", suffix=".partial", dir=out))
        for relative, text in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        _write_assets(staging / "recipes" / "assets")
        from gan_adapt.io.atomic_files import _umask

        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes a private folder
        if root.exists() or root.is_symlink():  # appeared meanwhile: never replace it
            raise FileExistsError(17, "it appeared while the package was being written")
        os.rename(staging, root)
    except BaseException as exc:
        _remove_partial(staging, out, created)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {root}: {exc.strerror or exc}. Nothing was left "
                             "behind.") from None
        raise
    return root


def _first_missing(folder: Path) -> Path | None:
    """The outermost folder of ``folder``'s path that does not exist yet (None: it exists)."""
    missing = None
    for candidate in [folder, *folder.parents]:
        if candidate.exists():
            break
        missing = candidate
    return missing


def _remove_partial(staging: Path | None, out: Path, created: Path | None) -> None:
    """Delete the staging folder, and the folders ``create`` made to hold it."""
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)
    if created is None:
        return
    for folder in [out, *out.parents]:
        try:
            folder.rmdir()  # only while empty: nothing of anyone else's is removed
        except OSError:
            return
        if folder == created:
            return



def _fill(text: str, n: dict[str, str], version: str) -> str:
    for key, value in {**n, "gan_adapt_version": version}.items():
        text = text.replace(f"@{key}@", value)
    return text


def _write_assets(folder: Path) -> None:
    """A tiny random StyleGAN2 checkpoint and a target image (the recipe needs no downloads)."""
    from gan_adapt.generators import write_tiny_checkpoint
    from gan_adapt.io.images import save_grid
    from gan_adapt.testing import target_image

    folder.mkdir(parents=True, exist_ok=True)
    write_tiny_checkpoint(folder / "tiny-stylegan2-32.pt", resolution=32, seed=0)
    save_grid(target_image(32), folder / "target.png", nrow=1)


TEMPLATES: dict[str, str] = {}

TEMPLATES["pyproject.toml"] = '''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "@dist@"
version = "0.1.0"
description = "A gan-adapt plugin: @loss@, @objective@ and @encoder@."
requires-python = ">=3.11"
dependencies = ["gan-adapt>=@gan_adapt_version@"]

[project.optional-dependencies]
test = ["pytest>=8"]

# gan-adapt finds the plugin through this entry point: the group is always `gan_adapt`, the
# name is the plugin's name, the value the module that holds the @hookimpl functions.
[project.entry-points.gan_adapt]
@snake@ = "@package@.plugin"

[tool.setuptools.packages.find]
include = ["@package@*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
# The tests import the package from this folder, so they pass before `pip install -e .` too.
pythonpath = ["."]

[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP"]
'''

TEMPLATES["README.md"] = '''\
# @dist@

A gan-adapt plugin, started with `gan-adapt new-plugin @name@`.

| component | kind | what it computes |
| --- | --- | --- |
| `@loss@` | loss | 1 - cosine similarity of G_t's images and the target in an encoder's space |
| `@objective@` | search objective | mean absolute pixel difference of G_s(w) and the target, \
at low resolution |
| `@encoder@` | encoder | a frozen random conv net, global-pooled and L2-normalised |

    pytest                                             # contracts, gradients, the recipe
    gan-adapt plugins --plugins-dir .                  # lists @snake@ and its components
    gan-adapt run recipes/@name@-smoke.toml --plugins-dir .   # tiny offline models, seconds
    pip install -e .                                   # then every command sees the plugin

`--plugins-dir .` reads the entry point from `pyproject.toml` and imports the package from
this folder, so nothing needs installing while you work on it.

Tests use the test kit that ships with gan-adapt, in `gan_adapt.plugin`: tiny models,
`make_context` / `make_step`, `check_term` / `check_encoder`, and `run_recipe`, which runs a
recipe in-process with this plugin for a few steps.
'''

TEMPLATES["{package}/__init__.py"] = '''\
"""@dist@: a gan-adapt plugin (see plugin.py for what it registers)."""

__version__ = "0.1.0"
'''

TEMPLATES["{package}/plugin.py"] = '''\
"""Entry point of the plugin (group ``gan_adapt``, name ``@snake@``).

Each component is registered lazily: ``lazy("module:Factory", Params)`` names the factory
without importing it, so ``gan-adapt validate`` and ``--help`` never import torch or this
plugin's modules; a run imports them when it builds the component. Registering the class
itself (``register("x", MyLoss)``) works too, at the price of importing it on every command.
"""

from __future__ import annotations

from typing import Any

from gan_adapt.plugin import hookimpl, lazy

from @package@ import params


@hookimpl
def register_losses(register: Any) -> None:
    register(
        "@loss@",
        lazy("@package@.loss:EmbeddingDistance",
             params.EmbeddingDistanceParams),
    )


@hookimpl
def register_search_objectives(register: Any) -> None:
    register(
        "@objective@",
        lazy("@package@.search:PixelDistance", params.PixelDistanceParams),
    )


@hookimpl
def register_encoders(register: Any) -> None:
    register(
        "@encoder@",
        lazy("@package@.encoder:build_pool_encoder",
             params.PoolEncoderParams),
    )
'''

TEMPLATES["{package}/params.py"] = '''\
"""Params models of the plugin's components: what a recipe's ``params = {...}`` may say.

Kept free of torch so that validating a recipe stays fast. ``extra="forbid"`` makes a typo in
a recipe an error; field descriptions are what ``gan-adapt components`` shows.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EmbeddingDistanceParams(BaseModel):
    """Parameters of ``@loss@``."""

    model_config = ConfigDict(extra="forbid")
    encoder: str = Field("features", description="Name of an encoder in the recipe's [encoders].")


class PixelDistanceParams(BaseModel):
    """Parameters of ``@objective@``."""

    model_config = ConfigDict(extra="forbid")
    size: int = Field(16, ge=1, description="Compare at this side (images are average-pooled).")


class PoolEncoderParams(BaseModel):
    """Parameters of ``@encoder@``."""

    model_config = ConfigDict(extra="forbid")
    embed_dim: int = Field(64, ge=1, description="Length of the embeddings.")
    input_size: int = Field(32, ge=8, description="Side of the square input the net sees.")
    seed: int = Field(0, description="Seed of the random weights.")
'''

TEMPLATES["{package}/loss.py"] = '''\
"""``@loss@``: a loss term on an encoder's embeddings
(the pattern of every CLIP-space term)."""

from __future__ import annotations

import torch
from gan_adapt.plugin import BuildContext, GanAdaptError, Step

from @package@.params import EmbeddingDistanceParams


class EmbeddingDistance:
    """1 - cosine similarity between G_t(w) and the target image in an encoder's space."""

    Params = EmbeddingDistanceParams

    def __init__(self, params: EmbeddingDistanceParams, ctx: BuildContext) -> None:
        if ctx.target.image is None:  # a user error: say what to add to the recipe
            raise GanAdaptError("@loss@ compares with a target image; "
                                "set target.image")
        self.encoder = ctx.encoder(params.encoder)
        with torch.no_grad():  # a constant, computed once at build time
            self.target = self.encoder.embed_images(ctx.target.image)  # [1, D], unit length

    def request_embeddings(self, step: Step) -> None:
        """Announce the images this term embeds: the engine embeds every term's in one pass."""
        step.request_image_embedding(self.encoder, "fake")

    def __call__(self, step: Step) -> torch.Tensor:
        fake = step.image_embedding(self.encoder, "fake")  # [N, D], gradients reach G_t
        return (1 - fake @ self.target.t()).mean()  # a 0-dim tensor: the contract
'''

TEMPLATES["{package}/search.py"] = '''\
"""``@objective@``: a search objective
(the latent search minimises it over w)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from gan_adapt.plugin import BuildContext, GanAdaptError, Step

from @package@.params import PixelDistanceParams


class PixelDistance:
    """Mean absolute difference of G_s(w) and the target image, average-pooled to ``size``."""

    Params = PixelDistanceParams

    def __init__(self, params: PixelDistanceParams, ctx: BuildContext) -> None:
        if ctx.target.image is None:
            raise GanAdaptError("@objective@ compares with a target image; "
                                "set target.image")
        self.size = params.size
        self.target = F.adaptive_avg_pool2d(ctx.target.image, self.size)

    def __call__(self, step: Step) -> torch.Tensor:
        # In the search phase step.fake is G_s(w): its gradient reaches the latent w.
        fake = F.adaptive_avg_pool2d(step.fake, self.size)
        return (fake - self.target).abs().mean()
'''

TEMPLATES["{package}/encoder.py"] = '''\
"""``@encoder@``: an encoder backbone.

EncoderBase does the preprocessing (range, crop, resize, mean/std), the L2 normalisation,
patches, batching and mixed precision; a backbone writes ``encode(pixels) -> [B, embed_dim]``
only."""

from __future__ import annotations

import torch
from gan_adapt.plugin import EncoderBase
from torch import nn

from @package@.params import PoolEncoderParams


class PoolEncoder(EncoderBase):
    """Two frozen random convolutions, global-average-pooled."""

    def __init__(self, params: PoolEncoderParams) -> None:
        super().__init__(input_size=params.input_size, embed_dim=params.embed_dim,
                         mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                         name="@encoder@")
        gen = torch.Generator().manual_seed(params.seed)
        self.net = nn.Sequential(nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.GELU(),
                                 nn.Conv2d(32, params.embed_dim, 3, stride=2, padding=1))
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
        self.requires_grad_(False).eval()  # encoders are frozen: gradients reach the input only

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net(pixels).mean((2, 3))  # [B, embed_dim]


def build_pool_encoder(params: PoolEncoderParams, ctx) -> PoolEncoder:
    """A frozen random conv encoder (offline, for experiments and tests)."""
    return PoolEncoder(params).to(ctx.device)
'''

TEMPLATES["recipes/{name}-smoke.toml"] = '''\
# Every component of @dist@ on tiny random models: runs offline in seconds.
#   gan-adapt run recipes/@name@-smoke.toml
name = "@name@-smoke"
description = "The @snake@ plugin's loss, search objective and encoder on a tiny random StyleGAN2."
requires = ["@snake@"]  # the entry point's name: the plugin, installed or --plugins-dir
device = "cpu"

[generator]
name = "stylegan2"
params = { checkpoint = "assets/tiny-stylegan2-32.pt", which = "g_ema" }

[encoders.features]
name = "@encoder@"
params = { embed_dim = 64, input_size = 32 }

[target]
image = "assets/target.png"

[search]
steps = 10
lr = 0.05

[[search.objective]]
name = "@objective@"
weight = 1.0
params = { size = 16 }

[[search.objective]]
name = "latent_l2"
weight = 0.01

[adapt]
steps = 10
freeze = ["mapping"]

[[adapt.schedule]]
name = "reference"
every = 2
latents = "reference"
batch = 1

[[adapt.schedule]]
name = "random"
latents = "random"
batch = 2

[[adapt.losses]]
name = "mse"
on = ["reference"]

[[adapt.losses]]
name = "@loss@"
weight = 1.0
params = { encoder = "features" }

[output]
sample_every = 5
checkpoint_every = 5
n_samples = 4
'''

TEMPLATES["tests/test_{snake}.py"] = '''\
"""Tests of @dist@
with gan-adapt's test kit (in gan_adapt.plugin): offline, on tiny models.

They need no install: pytest imports the package from the folder above (``pythonpath`` in
pyproject.toml), and ``run_recipe`` loads the plugin from that folder's entry point.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gan_adapt.plugin import check_encoder, check_term, make_context, make_step, run_recipe

from @package@.encoder import PoolEncoder
from @package@.loss import EmbeddingDistance
from @package@.params import (
    EmbeddingDistanceParams,
    PixelDistanceParams,
    PoolEncoderParams,
)
from @package@.search import PixelDistance

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ctx():
    return make_context(encoders={"features": PoolEncoder(PoolEncoderParams())})


def test_the_encoder_keeps_the_encoder_contract():
    check_encoder(PoolEncoder(PoolEncoderParams(embed_dim=16)))


def test_the_loss_is_a_scalar_whose_gradient_reaches_the_generator(ctx):
    term = EmbeddingDistance(EmbeddingDistanceParams(), ctx)
    value = check_term(term, make_step(ctx, batch=3))
    assert 0 <= value.item() <= 2  # 1 - cosine


def test_the_search_objective_moves_the_latent(ctx):
    term = PixelDistance(PixelDistanceParams(size=8), ctx)
    value = check_term(term, make_step(ctx, phase="search"))
    assert value.item() > 0


def test_the_plugin_registers_its_components():
    from gan_adapt.plugin import load_plugins

    from @package@ import plugin

    registry = load_plugins(entry_points=False, extra=[plugin]).registry
    for kind, name in [("loss", "@loss@"),
                       ("search_objective", "@objective@"),
                       ("encoder", "@encoder@")]:
        assert registry.get(kind, name) is not None, (kind, name)


def test_the_recipe_runs(tmp_path):
    # The plugin as this folder's pyproject.toml declares it (installed or not), 2 steps each
    # phase, with the engine's plugin contract checks on.
    recipe = ROOT / "recipes" / "@name@-smoke.toml"
    result = run_recipe(recipe, plugins=[ROOT], steps=2, out=tmp_path / "run")
    assert result.status == "done" and result.steps_done == 2
    assert "@loss@" in (result.folder / "metrics.json").read_text()
'''
