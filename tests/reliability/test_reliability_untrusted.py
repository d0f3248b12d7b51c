"""Untrusted files: checkpoints that try to run code are refused before anything runs, through
the whole CLI path (recipe -> build) and in a run folder given to --resume; and the checkpoint
loaders and the recipe parser, fuzzed, fail only with gan-adapt's own clear errors.

The loader-level payload tests live in tests/generators/test_safe_loading.py; this module reuses
its payload builder and checks the same files end to end."""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan_adapt.errors import GanAdaptError, RecipeError
from gan_adapt.generators.checkpoints import discriminator_from, generator_from, read_checkpoint
from tests.generators.test_safe_loading import _Reduce

from .conftest import DATA, FAULT_PLUGINS, FIXTURES, SMOKE_RECIPE, TOY_RECIPE, assert_refused

# ---------------------------------------------------------------------------------------------
# Payloads, end to end


class Unknown:
    """Pickles as a reference to this test module's class: a global no loader allows."""


def _payload(kind: str, marker: Path, container: str):
    """The object to pickle, and how the refusal must name it (the Python 3 spelling)."""
    if kind == "os.system":
        return _Reduce(os.system, f"touch {marker}"), "`posix.system` (os.system)"
    if kind == "eval":  # torch's loader names builtins bare
        return _Reduce(eval, f"open({str(marker)!r}, 'w')"), \
            "`eval`" if container == "pt" else "`builtins.eval` (eval)"
    if kind == "__reduce__":  # a class whose __reduce__ calls subprocess.Popen
        import subprocess

        return _Reduce(subprocess.Popen, ["touch", str(marker)]), "subprocess.Popen"
    return Unknown(), f"{__name__}.Unknown`"


def _write(container: str, payload, path: Path) -> None:
    state = {"style.1.weight": torch.zeros(2, 2)}
    if container == "pt":
        torch.save({"g_ema": state, "args": payload}, path)
    else:  # an NVlabs-style network snapshot with one hostile entry
        path.write_bytes(pickle.dumps({"training_set_kwargs": None, "G": payload, "D": None,
                                       "G_ema": None}))


@pytest.mark.parametrize("container", ["pt", "pkl"])
@pytest.mark.parametrize("kind", ["os.system", "eval", "__reduce__", "unknown global"])
def test_checkpoint_that_asks_for_code_is_refused_end_to_end(kind, container, cli, tmp_path):
    marker = tmp_path / "pwned"
    payload, global_name = _payload(kind, marker, container)
    path = tmp_path / f"download.{container}"
    _write(container, payload, path)
    out = tmp_path / "run"
    result = cli("run", SMOKE_RECIPE, "--out", out, "--set",
                 f"generator.params.checkpoint={path}", plugins="oneshotclip")
    assert_refused(result, global_name, "never runs code",
                   "nothing from this file was executed")
    assert not marker.exists(), "the payload ran"
    assert not out.exists()


def _shared_copy(uninterrupted, tmp_path: Path) -> Path:
    """A copy of a finished run folder, marked interrupted so that --resume accepts it."""
    import shutil

    folder = tmp_path / "shared-run"
    shutil.copytree(uninterrupted[1], folder)
    meta = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**meta, "status": "interrupted"}))
    return folder


@pytest.mark.parametrize("file", ["checkpoints/step-000008.pt", "search/w_ref.pt"])
def test_resume_refuses_a_tampered_run_folder(file, uninterrupted, cli, tmp_path):
    """A run folder from someone else: its checkpoint or searched latent replaced by a payload."""
    folder = _shared_copy(uninterrupted, tmp_path)
    marker = tmp_path / "pwned"
    torch.save({"w_ref": _Reduce(os.system, f"touch {marker}")}, folder / file)
    result = cli("run", "--resume", folder, "--plugins-dir", FIXTURES,
                 "--plugins-dir", FAULT_PLUGINS)
    assert_refused(result, f"Refused to load {folder / file}", "`posix.system`",
                   "Nothing from the file was executed")
    assert not marker.exists()


def test_resume_refuses_a_checkpoint_that_does_not_fit_the_run(uninterrupted, cli, tmp_path):
    """The run folder's recipe was edited after the run (a wider generator): its checkpoints no
    longer fit, and the resume says so instead of failing inside torch."""
    import tomllib

    import tomli_w

    folder = _shared_copy(uninterrupted, tmp_path)
    # A folder from before run identities (whose check would refuse the edit first).
    meta = json.loads((folder / "run.json").read_text())
    del meta["identity"]
    (folder / "run.json").write_text(json.dumps(meta))
    recipe = tomllib.loads((folder / "recipe.toml").read_text())
    recipe["generator"]["params"] = {"channels": 4}
    (folder / "recipe.toml").write_text(tomli_w.dumps(recipe))
    result = cli("run", "--resume", folder, "--plugins-dir", FIXTURES,
                 "--plugins-dir", FAULT_PLUGINS)
    assert_refused(result, "step-000008.pt does not fit this run's networks",
                   "recipe.toml edited")


# ---------------------------------------------------------------------------------------------
# Fuzzing the checkpoint loaders: byte mutations of the real test checkpoints


#: Hypothesis settings of every fuzz test: a fixed budget, same examples on every run (the
#: suite must not be flaky); GAN_ADAPT_FUZZ=N multiplies the budget and draws fresh examples.
FUZZ_SCALE = int(os.environ.get("GAN_ADAPT_FUZZ", "1"))
#: Examples per fuzz test (docs/reliability.md quotes these figures).
CHECKPOINT_BYTES_EXAMPLES = 150  # per seed file
STATE_DICT_EXAMPLES = 100
RECIPE_TEXT_EXAMPLES = 400
RECIPE_VALUE_EXAMPLES = 400


def fuzz(examples: int):
    return settings(max_examples=examples * FUZZ_SCALE, deadline=None, derandomize=FUZZ_SCALE == 1,
                    database=None, suppress_health_check=list(HealthCheck))


def _opcode_offsets(data: bytes, base: int = 0) -> list[int]:
    """Where each pickle opcode starts: mutating there changes structure, not tensor bytes."""
    return [base + pos for _, _, pos in pickletools.genops(io.BytesIO(data))]


def _zip_member_offsets(data: bytes, suffix: str) -> tuple[int, int]:
    """Start and size of an uncompressed zip member's bytes (torch stores data.pkl so)."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    info = next(i for i in archive.infolist() if i.filename.endswith(suffix))
    header = data[info.header_offset: info.header_offset + 30]
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len, info.file_size


def _targets(name: str) -> tuple[bytes, list[int]]:
    data = (DATA / name).read_bytes()
    if name.endswith(".pkl"):
        return data, _opcode_offsets(data)
    start, size = _zip_member_offsets(data, "data.pkl")
    # The pickle's opcodes, plus the zip's own structure at the end of the file.
    return data, _opcode_offsets(data[start:start + size], start) + \
        list(range(len(data) - 512, len(data)))


SEEDS = {name: _targets(name) for name in ("nv32_nvlabs_network-snapshot.pkl",
                                           "ros64_rosinality_ckpt.pt")}

_MUTATION = st.tuples(st.sampled_from(["set", "insert", "delete"]),
                      st.integers(min_value=0), st.binary(min_size=1, max_size=8))


def _mutate(data: bytes, offsets: list[int], mutations, cut: int | None) -> bytes:
    out = bytearray(data)
    for op, where, payload in mutations:
        at = offsets[where % len(offsets)]
        if op == "set":
            out[at:at + len(payload)] = payload
        elif op == "insert":
            out[at:at] = payload
        else:
            del out[at:at + len(payload)]
    return bytes(out[:cut] if cut is not None else out)


def _load_everything(path: Path) -> None:
    """What a recipe does with a checkpoint: both generators and the discriminator."""
    contents = read_checkpoint(path)
    for which, role in (("g_ema", "ema"), ("g", "train")):
        if role in contents.generators:
            generator_from(contents, which)
    if contents.discriminator is not None:
        discriminator_from(contents)


@pytest.mark.parametrize("name", sorted(SEEDS))
@fuzz(examples=CHECKPOINT_BYTES_EXAMPLES)
@given(mutations=st.lists(_MUTATION, min_size=1, max_size=3),
       cut=st.one_of(st.none(), st.integers(min_value=0, max_value=4_000_000)))
def test_fuzzed_checkpoint_fails_only_with_our_errors(name, mutations, cut, tmp_path_factory):
    data, offsets = SEEDS[name]
    path = tmp_path_factory.mktemp("fuzz", numbered=True) / name
    path.write_bytes(_mutate(data, offsets, mutations, cut))
    try:
        _load_everything(path)
    except GanAdaptError:
        pass  # a clear refusal; anything else escapes and fails the test


_STATE_EDITS = st.sampled_from(["drop", "rename", "halve", "dtype", "not a tensor", "nan",
                                "unsqueeze", "replace entry"])


def _edit_state(checkpoint: dict, key_choice: int, edit: str, value) -> dict:
    checkpoint = {k: (dict(v) if isinstance(v, dict) else v) for k, v in checkpoint.items()}
    entries = sorted(k for k, v in checkpoint.items() if isinstance(v, dict) and v)
    if not entries:  # every state dict already replaced
        return checkpoint
    entry = entries[key_choice % len(entries)]
    state = checkpoint[entry]
    key = sorted(state)[key_choice % len(state)]
    tensor = state[key]
    if edit == "drop":
        del state[key]
    elif edit == "rename":
        state[key + "_"] = state.pop(key)
    elif edit == "halve" and isinstance(tensor, torch.Tensor):
        state[key] = tensor.reshape(-1)[: max(1, tensor.numel() // 2)]
    elif edit == "dtype" and isinstance(tensor, torch.Tensor):
        state[key] = tensor.to(torch.int64) if tensor.is_floating_point() else tensor.float()
    elif edit == "not a tensor":
        state[key] = value
    elif edit == "nan" and isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
        state[key] = torch.full_like(tensor, float("nan"))
    elif edit == "unsqueeze" and isinstance(tensor, torch.Tensor):
        state[key] = tensor.unsqueeze(0)
    elif edit == "replace entry":
        checkpoint[entry] = value
    return checkpoint


@fuzz(examples=STATE_DICT_EXAMPLES)
@given(edits=st.lists(st.tuples(st.integers(0, 10_000), _STATE_EDITS,
                                st.sampled_from([None, 3, "x", [1, 2], {"a": 1}])),
                      min_size=1, max_size=3))
def test_fuzzed_state_dicts_fail_only_with_our_errors(edits, tmp_path_factory):
    """Well-formed files whose content is wrong: missing, renamed, reshaped, retyped tensors
    (edits of the smoke recipe's tiny 32-px checkpoint, which loads in milliseconds)."""
    checkpoint = torch.load(TINY_CHECKPOINT, weights_only=True)
    for key_choice, edit, value in edits:
        checkpoint = _edit_state(checkpoint, key_choice, edit, value)
    path = tmp_path_factory.mktemp("fuzz-state", numbered=True) / "edited.pt"
    torch.save(checkpoint, path)
    try:
        _load_everything(path)
    except GanAdaptError:
        pass


# ---------------------------------------------------------------------------------------------
# Fuzzing the recipe parser


@pytest.fixture(scope="module")
def recipe_plugin_set():
    """Default plugins, the toy fixture plugin and OneShotCLIP (the paper recipe's terms)."""
    from gan_adapt.plugin_host.loading import LOAD_ENV, load_plugins

    saved = os.environ.get(LOAD_ENV)
    os.environ[LOAD_ENV] = "oneshotclip"
    try:
        plugin_set = load_plugins(FIXTURES)
        assert plugin_set.registry.get("loss", "patch_nce") is not None
        return plugin_set
    finally:
        if saved is None:
            del os.environ[LOAD_ENV]
        else:
            os.environ[LOAD_ENV] = saved


TINY_CHECKPOINT = SMOKE_RECIPE.parent / "assets" / "tiny-stylegan2-32.pt"
RECIPES = [TOY_RECIPE, SMOKE_RECIPE.parent / "oneshotclip.toml"]


@pytest.mark.filterwarnings("ignore")
@fuzz(examples=RECIPE_TEXT_EXAMPLES)
@given(recipe=st.sampled_from(RECIPES), edits=st.lists(
    st.tuples(st.integers(min_value=0), st.sampled_from(["set", "insert", "delete"]),
              st.sampled_from(list(b'[]{}="\'.,\n#0123456789-+eE_abcxyz \x00\xff\\'))),
    min_size=1, max_size=6))
def test_fuzzed_recipe_text_fails_only_with_recipe_errors(recipe, edits, recipe_plugin_set,
                                                          tmp_path_factory):
    from gan_adapt.recipe.schema import read_and_validate

    text = bytearray(recipe.read_bytes())
    for where, op, byte in edits:
        at = where % len(text)
        if op == "set":
            text[at] = byte
        elif op == "insert":
            text.insert(at, byte)
        else:
            del text[at]
    path = tmp_path_factory.mktemp("fuzz-recipe", numbered=True) / "recipe.toml"
    path.write_bytes(bytes(text))
    try:
        read_and_validate(path, recipe_plugin_set)
    except RecipeError:
        pass


#: TOML values of every type, including the awkward ones (NaN, huge ints, NUL bytes, dates).
TOML_VALUES = st.recursive(
    st.one_of(st.integers(), st.floats(), st.booleans(), st.text(max_size=300),
              st.sampled_from(["mse", "toy", "reference", "random", "\x00", "~nobody/x",
                               "a" * 5000, "../../etc/passwd"]),
              st.dates(), st.times()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["name", "params", "weight", "on",
                                                             "every", "steps", "x"]),
                                            inner, max_size=3)),
    max_leaves=8)


def _paths(node, prefix=()):
    yield prefix
    children = node.items() if isinstance(node, dict) else \
        enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, prefix + (key,))


@pytest.mark.filterwarnings("ignore")
@fuzz(examples=RECIPE_VALUE_EXAMPLES)
@given(recipe=st.sampled_from(RECIPES),
       edits=st.lists(st.tuples(st.integers(min_value=0), st.booleans(), TOML_VALUES),
                      min_size=1, max_size=3))
def test_fuzzed_recipe_values_fail_only_with_recipe_errors(recipe, edits, recipe_plugin_set):
    from gan_adapt.recipe.schema import read_toml, validate

    data = read_toml(recipe)
    for where, delete, value in edits:
        paths = [p for p in _paths(data) if p]
        path = paths[where % len(paths)]
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if delete:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    try:
        validate(data, recipe_plugin_set, base_dir=recipe.parent, source=str(recipe))
    except RecipeError:
        pass
