"""Contract checks at the engine boundary: a component that hands back the wrong thing gets one
line naming the plugin, the component, the recipe path and what was expected."""

from __future__ import annotations

import json

import pytest

from gan_adapt.errors import PluginError
from tests.core.helpers import assert_clean_error, run_cli

from .conftest import toy_recipe, write_plugin

BAD_TERMS = '''
import torch
from gan_adapt import hookimpl


class Returns:
    """Returns whatever its class says, computed from G_t's images."""
    make = None

    def __init__(self, params, ctx):
        pass

    def __call__(self, step):
        return type(self).make(step.fake)


def _term(name, make, **attrs):
    return type(name, (Returns,), {"make": staticmethod(make), **attrs})


class OwnParameter(torch.nn.Module):
    """Depends only on its own parameter, never on G_t."""

    def __init__(self, params, ctx):
        super().__init__()
        self.p = torch.nn.Parameter(torch.ones(()))

    def __call__(self, step):
        return self.p * 2


@hookimpl
def register_losses(register):
    register("per_pixel", _term("PerPixel", lambda fake: fake.pow(2).mean((1, 2, 3))))
    register("python_float", _term("PythonFloat", lambda fake: 0.25))
    register("text_value", _term("TextValue", lambda fake: "small"))
    register("integer_tensor", _term("IntegerTensor", lambda fake: torch.tensor(3)))
    register("one_element", _term("OneElement", lambda fake: fake.mean().reshape(1)))
    register("detached", _term("Detached", lambda fake: fake.detach().mean()))
    register("monitor", _term("Monitor", lambda fake: fake.detach().mean(),
                              has_gradient=False))
    register("own_parameter", OwnParameter)


@hookimpl
def register_search_objectives(register):
    register("per_pixel_search", _term("PerPixelSearch", lambda fake: fake.mean((1, 2, 3))))
    register("detached_search", _term("DetachedSearch", lambda fake: fake.detach().mean()))
'''


@pytest.fixture
def bad_terms(tmp_path):
    return write_plugin(tmp_path / "plugins", "bad_terms", BAD_TERMS).parent


def message_of(excinfo) -> str:
    return str(excinfo.value)


@pytest.mark.parametrize("name, expected", [
    ("per_pixel", "returned a float32 tensor of shape [1]"),
    ("text_value", "returned a str"),
    ("integer_tensor", "returned a int64 tensor of shape []"),
    ("one_element", "shape [1]; expected a 0-dim floating-point tensor"),
])
def test_a_term_breaking_the_value_contract_is_named(tmp_path, bad_terms, run_in_process,
                                                     name, expected):
    recipe = toy_recipe(tmp_path, losses=[{"name": name}])
    with pytest.raises(PluginError) as excinfo:
        run_in_process(recipe, bad_terms)
    message = message_of(excinfo)
    assert message.startswith(f"adapt.losses[4], loss {name!r} from plugin 'bad_terms', at "
                              "adapt step 0 returned"), message
    assert expected in message and "expected a 0-dim floating-point tensor" in message
    assert "(cpu)" in message and "\n" not in message


def test_a_python_number_is_wrapped_and_logged(tmp_path, bad_terms, run_in_process):
    recipe = toy_recipe(tmp_path, losses=[{"name": "python_float"}])
    result = run_in_process(recipe, bad_terms)
    assert result.status == "done"
    log = [json.loads(line) for line in (result.folder / "log.jsonl").read_text().splitlines()]
    assert [r["python_float"] for r in log if r["phase"] == "adapt"] == [0.25, 0.25]


def test_a_search_objective_follows_the_same_rules(tmp_path, bad_terms, run_in_process):
    recipe = toy_recipe(tmp_path, objective=[{"name": "mean_colour"},
                                             {"name": "per_pixel_search"}])
    with pytest.raises(PluginError, match=r"^search\.objective\[1\], search_objective "
                                          r"'per_pixel_search' from plugin 'bad_terms', at search "
                                          r"step 0 returned a float32 tensor of shape \[1\]"):
        run_in_process(recipe, bad_terms)


@pytest.mark.parametrize("name, expected", [
    ("detached", "adapt.losses[4], loss 'detached' from plugin 'bad_terms', at adapt step 0: "
                 "its value carries no gradient"),
    ("own_parameter", "adapt.losses[4], loss 'own_parameter' from plugin 'bad_terms', at adapt "
                      "step 0: its value has a gradient, but none of it reaches G_t's trainable "
                      "parameters"),
])
def test_check_mode_finds_terms_whose_gradient_never_reaches_G_t(tmp_path, bad_terms,
                                                                 run_in_process, name, expected):
    recipe = toy_recipe(tmp_path, losses=[{"name": name, "on": ["random"]}])
    assert run_in_process(recipe, bad_terms).status == "done"  # without check mode: silent
    with pytest.raises(PluginError) as excinfo:
        run_in_process(recipe, bad_terms, check=True)
    assert message_of(excinfo).startswith(expected.replace("step 0", "step 1")), \
        message_of(excinfo)


def test_check_mode_checks_the_search_latent_and_respects_has_gradient(tmp_path, bad_terms,
                                                                       run_in_process):
    recipe = toy_recipe(tmp_path, objective=[{"name": "mean_colour"},
                                             {"name": "detached_search"}])
    with pytest.raises(PluginError, match="cannot train the latent w"):
        run_in_process(recipe, bad_terms, check=True)
    recipe = toy_recipe(tmp_path, losses=[{"name": "monitor"}])
    assert run_in_process(recipe, bad_terms, check=True).status == "done"


BAD_ENCODER = '''
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from gan_adapt import hookimpl


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out_dim: int = 4
    rows: str = "same"  # "same", "one": how many rows it returns
    normalise: bool = True


class MeanColourEncoder(torch.nn.Module):
    """Embeds an image as its mean colour, padded to out_dim (declares embed_dim = 4)."""
    embed_dim = 4
    input_size = 16

    def __init__(self, params):
        super().__init__()
        self.params = params

    def embed_images(self, x):
        e = F.pad(x.mean((2, 3)), (0, self.params.out_dim - 3), value=1.0)
        e = e[:1] if self.params.rows == "one" else e
        return F.normalize(e, dim=-1) if self.params.normalise else e

    def embed_many(self, groups, grad):
        return [self.embed_images(g) for g in groups]


def mean_colour_encoder(params, ctx):
    return MeanColourEncoder(params)


mean_colour_encoder.Params = Params


class EmbeddingNorm:
    """Squared distance of G_t's embeddings from the target's."""

    class Params(BaseModel):
        encoder: str = "toy"

    def __init__(self, params, ctx):
        self.encoder = ctx.encoder(params.encoder)

    def __call__(self, step):
        e = step.image_embedding(self.encoder, "fake")
        return e[:, :3].pow(2).sum(1).mean()


@hookimpl
def register_encoders(register):
    register("mean_colour_encoder", mean_colour_encoder)


@hookimpl
def register_losses(register):
    register("embedding_norm", EmbeddingNorm)
'''


@pytest.mark.parametrize("params, expected", [
    ({"out_dim": 5}, "embed_images(2 images) returned embeddings of length 5 although "
                     "it declares embed_dim = 4; expected [2, 4]"),
    ({"rows": "one"}, "embed_images(2 images) returned shape [1, 4]; expected [2, 4]"),
])
def test_an_encoder_breaking_its_contract_is_blamed_not_the_term(tmp_path, run_in_process,
                                                                 params, expected):
    plugins = write_plugin(tmp_path / "plugins", "bad_encoder", BAD_ENCODER).parent
    recipe = toy_recipe(tmp_path, losses=[{"name": "embedding_norm", "on": ["random"]}],
                        encoders={"toy": {"name": "mean_colour_encoder", "params": params}})
    with pytest.raises(PluginError) as excinfo:
        run_in_process(recipe, plugins)
    message = message_of(excinfo)
    assert message.startswith("encoders.toy: encoder 'mean_colour_encoder' from plugin "
                              "'bad_encoder' broke its contract: "), message
    assert expected in message, message


def test_check_mode_requires_unit_length_embeddings(tmp_path, run_in_process):
    plugins = write_plugin(tmp_path / "plugins", "bad_encoder", BAD_ENCODER).parent
    recipe = toy_recipe(tmp_path, losses=[{"name": "embedding_norm", "on": ["random"]}],
                        encoders={"toy": {"name": "mean_colour_encoder",
                                          "params": {"normalise": False}}})
    assert run_in_process(recipe, plugins).status == "done"
    with pytest.raises(PluginError, match="not L2-normalised"):
        run_in_process(recipe, plugins, check=True)


def test_the_cli_prints_one_line_and_takes_check_plugins(tmp_path, bad_terms):
    recipe = toy_recipe(tmp_path, losses=[{"name": "per_pixel"}])
    from tests.core.helpers import FIXTURES

    result = run_cli("run", str(recipe), "--plugins-dir", str(FIXTURES), "--plugins-dir",
                     str(bad_terms), "--out", str(tmp_path / "cli"), "--check-plugins")
    assert_clean_error(result, 1)
    first = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert first and "adapt.losses[4], loss 'per_pixel' from plugin 'bad_terms'" in first[0]
