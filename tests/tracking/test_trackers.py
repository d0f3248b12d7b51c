"""The TensorBoard and W&B observers (gan_adapt.tracking) on a tiny smoke run.

One run (2 search + 3 adapt steps, a grid every 2 steps: grids 0, 2 and 3) goes through the
CLI's ``--tensorboard`` flag and, when wandb is installed, ``output.wandb = true`` in offline
mode. TensorBoard's files are read back with TensorBoard's own reader.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "recipes" / "smoke.toml"
HAS_WANDB = importlib.util.find_spec("wandb") is not None
GRID_STEPS = [0, 2, 3]


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("tensorboard", reason="the tensorboard package is not installed "
                                              "(pip install tensorboard)")
    import os

    from gan_adapt.cli import commands as cli

    out = tmp_path_factory.mktemp("tracking") / "run"
    wandb_dir = tmp_path_factory.mktemp("wandb-home")
    saved = {k: os.environ.get(k) for k in ("WANDB_MODE", "WANDB_DIR", "WANDB_CONFIG_DIR",
                                            "WANDB_CACHE_DIR", "WANDB_SILENT")}
    os.environ.update(WANDB_MODE="offline", WANDB_CONFIG_DIR=str(wandb_dir),
                      WANDB_CACHE_DIR=str(wandb_dir), WANDB_SILENT="true")
    try:
        cli.main(["run", str(SMOKE), "--out", str(out), "--tensorboard",
                  "--set", "search.steps=2", "--set", "adapt.steps=3",
                  "--set", "output.sample_every=2", "--set", "output.n_samples=2",
                  "--set", f"output.wandb={'true' if HAS_WANDB else 'false'}"])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return out


def test_tensorboard_logs_values_grids_and_recipe(tracked_run: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = list((tracked_run / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    log = EventAccumulator(str(tracked_run / "tensorboard"),
                           size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    log.Reload()
    records = [json.loads(line) for line in (tracked_run / "log.jsonl").read_text().splitlines()]
    # Every value of the JSON log is a scalar PHASE/NAME at its step, with the same value.
    for record in records:
        for name, value in record.items():
            if name in ("phase", "step", "kind", "time"):
                continue
            tag = f"{record['phase']}/{name}"
            logged = {e.step: e.value for e in log.Scalars(tag)}
            assert logged[record["step"]] == pytest.approx(value, rel=1e-6), tag
    assert [e.step for e in log.Images("samples")] == GRID_STEPS
    first = log.Images("samples")[0]
    # 2 latents x (G_s, G_t), plus the white margin of the row labels on the left
    assert first.height == 2 * 34 + 2 and first.width > 2 * 34 + 2
    assert [e.step for e in log.Images("target_vs_reference")] == [0]
    recipe_text = log.Tensors("recipe/text_summary")[0].tensor_proto.string_val[0].decode()
    assert 'name = "smoke"' in recipe_text


def test_the_tensorboard_flag_is_recorded_as_an_override(tracked_run: Path):
    meta = json.loads((tracked_run / "run.json").read_text())
    assert "output.tensorboard=true" in meta["overrides"]
    assert "tensorboard = true" in (tracked_run / "recipe.toml").read_text()


def wandb_records(path: Path) -> list:
    """The protobuf records of an offline run's ``.wandb`` file (a LevelDB-style log: 7-byte
    W&B header, then 32 KiB blocks of chunks, each with a 7-byte crc/length/type header)."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, chunks, pending = 32768, 7, [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7]) if left >= 7 else (0, 0, 0)
        if left < 7 or (length == 0 and kind == 0):  # block padding
            pos += left
            continue
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == 1:  # full
            chunks.append(chunk)
        elif kind in (2, 3):  # first, middle
            pending = chunk if kind == 2 else pending + chunk
        elif kind == 4:  # last
            chunks.append(pending + chunk)
    records = []
    for raw in chunks:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        records.append(record)
    return records


@pytest.mark.skipif(not HAS_WANDB, reason="wandb is not installed (pip install 'gan-adapt[wandb]')")
def test_wandb_offline_run_holds_values_grids_and_recipe(tracked_run: Path):
    runs = list((tracked_run / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list((tracked_run / "wandb").iterdir())
    run_id = (tracked_run / "wandb" / "gan-adapt-run-id").read_text().strip()
    records = wandb_records(runs[0] / f"run-{run_id}.wandb")
    history = [{item.key or "/".join(item.nested_key): json.loads(item.value_json)
                for item in r.history.item} for r in records if r.HasField("history")]
    logged = [json.loads(line) for line in (tracked_run / "log.jsonl").read_text().splitlines()]
    for record in logged:  # every logged value, at its step on its phase's axis
        phase, step = record["phase"], record["step"]
        rows = [row for row in history if row.get(f"{phase}/step") == step
                and f"{phase}/total" in row]
        assert len(rows) == 1, (phase, step)
        assert rows[0][f"{phase}/total"] == pytest.approx(record["total"], rel=1e-6)
    grids = [row for row in history if row.get("samples/_type") == "image-file"]
    assert [row["adapt/step"] for row in grids] == GRID_STEPS
    assert all((runs[0] / "files" / row["samples/path"]).is_file() for row in grids)
    config = {u.key: json.loads(u.value_json) for r in records if r.HasField("run")
              for u in r.run.config.update}
    assert config["name"] == "smoke"
    assert config["adapt"]["steps"] == 3


def test_turning_a_tracker_on_without_its_package_is_a_recipe_error(monkeypatch):
    import importlib.util as util

    from gan_adapt.api import public as api
    from gan_adapt.errors import RecipeError

    real = util.find_spec
    monkeypatch.setattr(util, "find_spec",
                        lambda name, *a: (None if name in ("tensorboard", "wandb")
                                          else real(name, *a)))
    with pytest.raises(RecipeError) as caught:
        api.load_recipe(SMOKE, overrides={"output.tensorboard": True, "output.wandb": True})
    assert "output.tensorboard: needs the 'tensorboard' package" in str(caught.value)
    assert "pip install 'gan-adapt[wandb]'" in str(caught.value)
