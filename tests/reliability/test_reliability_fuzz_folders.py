"""Hypothesis fuzzing of run folders and sweep files: whatever their files hold, the readers
(`report`, what `eval`/`compare` open, the resume's search state, the sweep parser) end with
a correct result or a gan-adapt error, never another exception.

Budgets are fixed and the examples the same on every run (see FUZZ_SCALE); docs/reliability.md
quotes these figures.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gan_adapt.errors import GanAdaptError

from .conftest import ROOT
from .test_reliability_untrusted import fuzz

RUN_FOLDER_EXAMPLES = 80
SAMPLE_NAME_EXAMPLES = 30
SEARCH_STATE_EXAMPLES = 100
SWEEP_TEXT_EXAMPLES = 150
SWEEP_VALUE_EXAMPLES = 150

RECORDS = ["run.json", "result.json", "eval.json", "metrics.json", "environment.json"]

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40),
              st.sampled_from(["done", "../../x", "generator", "<b>", "\x00", "nan"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(
                                ["status", "base_dir", "device", "steps_done", "outputs",
                                 "generator", "metrics", "settings", "instruments", "fid",
                                 "n", "x"]), inner, max_size=4)),
    max_leaves=10)

#: One edit of a record: replace a top-level key's value, write any JSON, or mutate bytes.
EDITS = st.one_of(
    st.tuples(st.just("key"), st.sampled_from(RECORDS), st.text(max_size=12), JSON_VALUES),
    st.tuples(st.just("json"), st.sampled_from(RECORDS), st.none(), JSON_VALUES),
    st.tuples(st.just("bytes"), st.sampled_from(RECORDS), st.integers(0, 400),
              st.binary(min_size=1, max_size=6)),
    st.tuples(st.just("delete"), st.sampled_from(RECORDS), st.none(), st.none()),
)


def _apply(folder, edit) -> None:
    kind, name, where, value = edit
    path = folder / name
    if kind == "delete":
        path.unlink(missing_ok=True)
    elif kind == "json":
        path.write_text(json.dumps(value))
    elif kind == "key":
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        if isinstance(data, dict):
            key = where if where in data or not data else sorted(data)[len(where) % len(data)]
            data[key] = value
        path.write_text(json.dumps(data))
    else:
        data = bytearray(path.read_bytes()) if path.exists() else bytearray(b"{}")
        at = where % (len(data) + 1)
        data[at:at + len(value)] = value
        path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def pristine(uninterrupted):
    return uninterrupted[1]


def _open_like_eval_and_compare(folder, plugin_set) -> None:
    """What eval and compare read before building any network."""
    from gan_adapt.evaluation.compare import metric_lines
    from gan_adapt.evaluation.runs import open_run_recipe, result_outputs

    run_folder, meta, _ = open_run_recipe(folder, plugin_set)
    result_outputs(run_folder, meta)
    metric_lines(folder)


@fuzz(examples=RUN_FOLDER_EXAMPLES)
@given(edits=st.lists(EDITS, min_size=1, max_size=3))
def test_fuzzed_run_folder_records_fail_only_with_our_errors(edits, pristine, fault_plugin_set,
                                                             tmp_path_factory):
    from gan_adapt.evaluation.report import build_report

    folder = tmp_path_factory.mktemp("fuzz-run", numbered=True) / "run"
    shutil.copytree(pristine, folder, ignore=shutil.ignore_patterns("checkpoints"))
    for edit in edits:
        _apply(folder, edit)
    for read in (lambda: build_report(folder),
                 lambda: _open_like_eval_and_compare(folder, fault_plugin_set)):
        try:
            read()
        except GanAdaptError:
            pass


@fuzz(examples=SAMPLE_NAME_EXAMPLES)
@given(names=st.lists(st.one_of(
    st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
            min_size=1, max_size=30),
    st.from_regex(r"step-[0-9]{0,9}(\.png)?(\.tmp)?", fullmatch=True)), min_size=1, max_size=4),
    folders=st.booleans())
def test_stray_names_in_samples_never_break_the_report(names, folders, pristine,
                                                       tmp_path_factory):
    from gan_adapt.engine.run_folder import sample_grids
    from gan_adapt.evaluation.report import build_report

    folder = tmp_path_factory.mktemp("fuzz-samples", numbered=True) / "run"
    shutil.copytree(pristine, folder, ignore=shutil.ignore_patterns("checkpoints"))
    from gan_adapt.engine.run_folder import step_of

    grids = {path.name for _, path in sample_grids(folder)}
    for name in names:
        path = folder / "samples" / name
        if name in (".", "..") or path.exists():
            continue
        try:
            path.mkdir() if folders else path.write_bytes(b"stray")
        except OSError:  # a name this file system refuses (too long in bytes)
            continue
        if not folders and step_of(path, ".png") is not None:
            grids.add(name)  # named exactly as a run names its grids: it is one
    build_report(folder)  # no error at all: stray names are not the run's
    assert {path.name for _, path in sample_grids(folder)} == grids


TENSORS = st.one_of(
    st.tuples(st.lists(st.integers(0, 5), max_size=4),
              st.sampled_from([torch.float32, torch.float64, torch.int64, torch.uint8,
                               torch.bool, torch.float16])),
    st.sampled_from(["nan", "inf"]))


@fuzz(examples=SEARCH_STATE_EXAMPLES)
@given(w_ref=TENSORS, rng=st.one_of(st.none(), JSON_VALUES, st.just("keep")),
       drop=st.sampled_from([None, "w_ref", "rng"]))
def test_fuzzed_search_state_fails_only_with_checkpoint_errors(w_ref, rng, drop, pristine,
                                                               fault_plugin_set):
    from gan_adapt.engine.run_records import check_search_state
    from gan_adapt.errors import CheckpointError

    saved = torch.load(pristine / "search" / "w_ref.pt", weights_only=True)
    generator = type("G", (), {"num_ws": saved["w_ref"].shape[1],
                               "w_dim": saved["w_ref"].shape[2]})
    if isinstance(w_ref, str):
        saved["w_ref"] = torch.full_like(saved["w_ref"], float(w_ref))
    else:
        shape, dtype = w_ref
        saved["w_ref"] = torch.zeros(shape, dtype=dtype)
    if rng != "keep":
        saved["rng"] = rng
    if drop:
        del saved[drop]
    try:
        check_search_state(saved, generator, pristine / "search" / "w_ref.pt")
    except CheckpointError:
        return
    # accepted: then it is exactly what a run writes
    assert saved["w_ref"].shape == (1, generator.num_ws, generator.w_dim)
    assert saved["w_ref"].is_floating_point() and bool(torch.isfinite(saved["w_ref"]).all())


# ---------------------------------------------------------------------------------------------
# Sweep files

SWEEP = ROOT / "recipes" / "sweeps" / "smoke-sweep.toml"


def _read_and_expand(path) -> None:
    from gan_adapt.sweep.spec import expand, read_sweep

    expand(read_sweep(path), path)


@pytest.mark.filterwarnings("ignore")
@fuzz(examples=SWEEP_TEXT_EXAMPLES)
@given(edits=st.lists(
    st.tuples(st.integers(min_value=0), st.sampled_from(["set", "insert", "delete"]),
              st.sampled_from(list(b'[]{}="\'.,\n#0123456789-+eE_abcxyz \x00\xff\\'))),
    min_size=1, max_size=6))
def test_fuzzed_sweep_text_fails_only_with_our_errors(edits, tmp_path_factory):
    text = bytearray(SWEEP.read_bytes())
    for where, op, byte in edits:
        at = where % len(text)
        if op == "set":
            text[at] = byte
        elif op == "insert":
            text.insert(at, byte)
        else:
            del text[at]
    folder = tmp_path_factory.mktemp("fuzz-sweep", numbered=True)
    (folder / "sweeps").mkdir()
    shutil.copy(ROOT / "recipes" / "smoke.toml", folder / "smoke.toml")
    path = folder / "sweeps" / "sweep.toml"
    path.write_bytes(bytes(text))
    try:
        _read_and_expand(path)
    except GanAdaptError:
        pass


SWEEP_VALUES = st.one_of(
    JSON_VALUES, st.floats(), st.integers(min_value=-(2 ** 80), max_value=2 ** 80),
    st.dates(), st.text(max_size=300),
    st.sampled_from(["../smoke.toml", "/etc/passwd", "\x00", "x" * 5000, "~nobody/x",
                     "smoke.toml", "."]))


@pytest.mark.filterwarnings("ignore")
@fuzz(examples=SWEEP_VALUE_EXAMPLES)
@given(edits=st.lists(st.tuples(st.sampled_from(
    ["name", "base", "targets", "grid", "set", "seeds", "backend", "gpus", "threads_per_run",
     "eval", "ray", "unknown"]), st.booleans(), SWEEP_VALUES), min_size=1, max_size=3))
def test_fuzzed_sweep_values_fail_only_with_our_errors(edits, tmp_path_factory):
    import tomllib

    import tomli_w

    data = tomllib.loads(SWEEP.read_text())
    for key, delete, value in edits:
        if delete:
            data.pop(key, None)
        else:
            data[key] = value
    folder = tmp_path_factory.mktemp("fuzz-sweep-values", numbered=True)
    (folder / "sweeps").mkdir()
    shutil.copy(ROOT / "recipes" / "smoke.toml", folder / "smoke.toml")
    path = folder / "sweeps" / "sweep.toml"
    try:
        path.write_text(tomli_w.dumps(data))
    except (TypeError, ValueError):  # a value TOML cannot hold (None, NaN in some writers)
        return
    try:
        _read_and_expand(path)
    except GanAdaptError:
        pass
