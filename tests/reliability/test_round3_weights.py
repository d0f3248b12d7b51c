"""Issue 26, critical: no weights file runs code, whichever loader reads it.

The hostile files are real: a TorchScript archive whose ``__setstate__`` maps a file writable
and fills it (``torch.jit.load`` runs it: checked first, so the fixture proves something), a
TorchScript-shaped zip whose ``data.pkl`` calls ``os.system``, and plain pickles with a
``__reduce__`` payload. Each goes through every entry point that reads weights (CLIP, DINO,
LPIPS, FID, generator and discriminator checkpoints, a run folder's checkpoint); none may
create its marker file, and each must end in one gan-adapt error naming the file.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from gan_adapt.errors import CheckpointError, UnsafeFileError
from tests.generators.test_safe_loading import _Reduce

from .conftest import ROOT, SMOKE_RECIPE, assert_refused


class _WritesOnLoad(torch.nn.Module):
    """Its TorchScript ``__setstate__`` (run by ``torch.jit.load``) writes ``path``."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(2, 2))
        self.path = path
        self.mapped = torch.zeros(8, dtype=torch.uint8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight

    @torch.jit.export
    def __getstate__(self) -> tuple[torch.Tensor, str, bool]:
        return (self.weight, self.path, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, str, bool]) -> None:
        self.weight = state[0]
        self.path = state[1]
        self.training = state[2]
        self.mapped = torch.from_file(self.path, True, 8, dtype=torch.uint8)
        self.mapped.fill_(65)


def _script_payload(tmp_path: Path) -> tuple[Path, Path]:
    """A TorchScript archive that writes a marker when ``torch.jit.load`` opens it (checked)."""
    marker, path = tmp_path / "pwned-by-torchscript", tmp_path / "clip-openai.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(_WritesOnLoad(str(marker))).save(str(path))
        torch.jit.load(str(path))  # what the old reader did: the payload runs
    assert marker.read_bytes() == b"A" * 8, "the fixture is not a working payload"
    marker.unlink()
    return path, marker


def _zip_payload(tmp_path: Path) -> tuple[Path, Path]:
    """A zip shaped like a TorchScript archive whose data.pkl calls os.system."""
    marker, path = tmp_path / "pwned-by-data-pkl", tmp_path / "dino.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps(_Reduce(os.system, f"touch {marker}")))
        archive.writestr("evil/constants.pkl", pickle.dumps(()))
        archive.writestr("evil/version", "3\n")
    return path, marker


def _pickle_payload(tmp_path: Path) -> tuple[Path, Path]:
    marker, path = tmp_path / "pwned-by-reduce", tmp_path / "weights.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": _Reduce(os.system, f"touch {marker}")},
               path)
    return path, marker


PAYLOADS = {"torchscript __setstate__": _script_payload, "zip data.pkl os.system": _zip_payload,
            "pickle __reduce__": _pickle_payload}


def _clip(path: Path) -> None:
    from gan_adapt.encoders.clip import build_clip, tiny_clip_config

    build_clip("tiny", pretrained=None, checkpoint=path, model_cfg=tiny_clip_config())


def _dino(path: Path) -> None:
    from gan_adapt.encoders.dino import build_dino

    build_dino("test_vit", pretrained=False, checkpoint=path, image_size=32)


def _lpips(path: Path) -> None:
    from gan_adapt.encoders.perceptual import LPIPSDistance

    LPIPSDistance("alex", pretrained=True, checkpoint=path)


def _generator(path: Path) -> None:
    from gan_adapt.generators.checkpoints import load

    load(path)


def _discriminator(path: Path) -> None:
    from gan_adapt.generators.checkpoints import load_discriminator

    load_discriminator(path)


def _run_folder_checkpoint(path: Path) -> None:
    from gan_adapt.engine.run_folder import RunFolder

    RunFolder(path.parent).load_state(path)


ENTRY_POINTS = {"clip": _clip, "dino": _dino, "lpips": _lpips, "generator": _generator,
                "discriminator": _discriminator, "run folder checkpoint": _run_folder_checkpoint}


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_no_weights_file_runs_code(entry, payload, tmp_path):
    path, marker = PAYLOADS[payload](tmp_path)
    with pytest.raises(CheckpointError) as caught:
        ENTRY_POINTS[entry](path)
    assert not marker.exists(), f"{entry} ran the {payload} payload"
    message = str(caught.value)
    assert str(path) in message and "\n" not in message, message


@pytest.mark.parametrize("payload", ["torchscript __setstate__", "zip data.pkl os.system"])
def test_script_archives_with_code_are_refused_as_unsafe(payload, tmp_path):
    from gan_adapt.encoders.weights import read_state_dict

    path, marker = PAYLOADS[payload](tmp_path)
    with pytest.raises(UnsafeFileError, match="nothing from this file was executed"):
        read_state_dict(path)
    assert not marker.exists()


def test_fid_inception_never_sees_the_file(tmp_path, monkeypatch):
    """torch-fidelity unpickles with weights_only=False: it must get only our re-saved tensors."""
    pytest.importorskip("torch_fidelity")
    import gan_adapt.encoders.weights as weights
    from gan_adapt.evaluation.features import InceptionFeatures

    for make in PAYLOADS.values():
        path, marker = make(tmp_path)
        monkeypatch.setattr(weights, "fetch", lambda _w, p=path: p)
        with pytest.raises(CheckpointError, match=re.escape(str(path))):
            InceptionFeatures()
        assert not marker.exists()


def test_harmless_torchscript_still_gives_its_tensors(tmp_path):
    """OpenAI's CLIP format keeps working: tensors are read passively, names as state_dict's."""
    from gan_adapt.encoders.weights import read_state_dict

    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                                 torch.nn.Flatten(), torch.nn.LazyLinear(2))
    module(torch.zeros(1, 3, 6, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.trace(module.eval(), torch.zeros(1, 3, 6, 6))
    path = tmp_path / "plain.pt"
    scripted.save(str(path))
    state = read_state_dict(path)
    expected = module.state_dict()
    assert list(state) == list(expected)
    assert all(torch.equal(state[k], v) for k, v in expected.items())


def test_cli_refuses_a_torchscript_clip_checkpoint(cli, tmp_path):
    path, marker = _script_payload(tmp_path)
    out = tmp_path / "run"
    result = cli("run", SMOKE_RECIPE, "--out", out, "--set",
                 f"encoders.clip.params.checkpoint={path}", plugins="oneshotclip")
    assert_refused(result, str(path), "nothing from this file was executed")
    assert not marker.exists() and not out.exists()


# The audit, as a test: a new call of a loader that can run code fails here.
_UNSAFE = [
    (re.compile(r"\bjit\.load\s*\("), "torch.jit.load runs the archive's code"),
    (re.compile(r"weights_only\s*=\s*False"), "weights_only=False unpickles anything"),
    (re.compile(r"\b(pickle|dill|cloudpickle|joblib|marshal)\.loads?\s*\("), "a bare unpickler"),
    (re.compile(r"\bshelve\.open\s*\(|\byaml\.load\s*\("), "a loader that builds objects"),
]


def _sources() -> list[Path]:
    roots = [ROOT / "gan_adapt", ROOT / "plugins", ROOT / "benchmarks"]
    return [p for root in roots for p in root.rglob("*.py") if "__pycache__" not in p.parts]


def test_no_source_calls_a_loader_that_runs_code():
    found = []
    for source in _sources():
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            for pattern, why in _UNSAFE:
                if pattern.search(code):
                    found.append(f"{source.relative_to(ROOT)}:{number}: {why}: {line.strip()}")
            if re.search(r"\btorch\.load\s*\(", code) and "weights_only=True" not in code:
                found.append(f"{source.relative_to(ROOT)}:{number}: torch.load without "
                             f"weights_only=True: {line.strip()}")
            if re.search(r"\b(np|numpy)\.load\s*\(", code) and "allow_pickle=False" not in code:
                found.append(f"{source.relative_to(ROOT)}:{number}: numpy.load without "
                             f"allow_pickle=False: {line.strip()}")
    assert not found, "\n".join(found)


def _plain_archive(tmp_path: Path) -> Path:
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.trace(module, torch.zeros(1, 3))
    path = tmp_path / "plain.pt"
    scripted.save(str(path))
    return path


def test_a_compressed_storage_is_refused_before_it_inflates(tmp_path):
    from gan_adapt.encoders.weights import read_state_dict

    plain = _plain_archive(tmp_path)
    squeezed = tmp_path / "squeezed.pt"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(squeezed, "w",
                                                         zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    with pytest.raises(CheckpointError, match="compressed"):
        read_state_dict(squeezed)


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                      max_size=6), cut=st.none() | st.integers(0, 10**6))
def test_fuzzed_script_archives_fail_only_with_our_errors(edits, cut, tmp_path_factory):
    """Byte edits of a real TorchScript archive: tensors or a gan-adapt error, never another
    exception (and never code: nothing here is ever compiled)."""
    from gan_adapt.encoders.weights import read_state_dict

    folder = tmp_path_factory.mktemp("fuzz")
    data = bytearray(_plain_archive(folder).read_bytes())
    for offset, value in edits:
        data[offset % len(data)] = value
    if cut is not None:
        data = data[:cut % len(data)]
    path = folder / "fuzzed.pt"
    path.write_bytes(bytes(data))
    try:
        read_state_dict(path)
    except CheckpointError:
        pass
