"""Checkpoints never run code: malicious pickles are refused before anything executes."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from gan_adapt.errors import CheckpointError, UnsafeFileError
from gan_adapt.generators import load, load_discriminator
from gan_adapt.weights.safe_pickle import load_pickle
from tests.generators.conftest import NV32_PKL


class _Reduce:
    """Pickles as a call of ``func(*args)``: the classic pickle payload."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _touch_command(marker: Path) -> str:
    return f"touch {marker}"


PAYLOADS = {
    "os.system": (lambda m: _Reduce(os.system, _touch_command(m)), "posix.system"),
    "eval": (lambda m: _Reduce(eval, f"open({str(m)!r}, 'w')"), "builtins.eval"),
    "exec": (lambda m: _Reduce(builtins.exec, f"open({str(m)!r}, 'w')"), "builtins.exec"),
    "subprocess": (lambda m: _Reduce(subprocess.call, ["touch", str(m)]), "subprocess.call"),
    "open": (lambda m: _Reduce(open, str(m), "w"), "io.open"),
}


def _network_snapshot_with(payload) -> dict:
    """A real-looking snapshot: NVlabs keys plus one hostile entry."""
    return {"training_set_kwargs": None, "G": payload, "D": None, "G_ema": None}


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_malicious_pickle_is_refused_before_running(kind, tmp_path):
    make, global_name = PAYLOADS[kind]
    marker = tmp_path / "pwned"
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(pickle.dumps(_network_snapshot_with(make(marker))))
    with pytest.raises(UnsafeFileError) as info:
        load(path)
    assert not marker.exists(), "the payload ran"
    message = str(info.value)
    assert f"`{global_name}`" in message
    assert "never runs code" in message and "nothing from this file was executed" in message


def test_refusal_names_os_system_plainly(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Reduce(os.system, "true")))
    with pytest.raises(UnsafeFileError, match=r"`posix\.system` \(os\.system\)"):
        load_pickle(path)


def test_unknown_global_is_refused(tmp_path):
    # GLOBAL 'evilmodule payload', then call it: the module does not even exist here.
    data = b"\x80\x02cevilmodule\npayload\n)R."
    path = tmp_path / "unknown.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafeFileError, match=r"`evilmodule\.payload`"):
        load(path)


def _fake_reference_module(monkeypatch) -> types.ModuleType:
    """A stand-in ``torch_utils.persistence`` so that pickle can write references to it (the
    loader never imports it; it is removed again before loading)."""
    module = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        return meta

    _reconstruct_persistent_obj.__module__ = module.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    monkeypatch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", module)
    return module


def test_reduce_payload_nested_deep_inside_a_record(tmp_path, monkeypatch):
    """A payload hidden in a module's state, after legitimate allowed globals, is still refused."""
    marker = tmp_path / "pwned"
    module = _fake_reference_module(monkeypatch)
    meta = {"type": "class", "version": 6, "module_src": "import os", "class_name": "Generator",
            "state": {"_parameters": {"w": torch.zeros(2)},
                      "_modules": {"synthesis": _Reduce(os.system, _touch_command(marker))}}}
    data = pickle.dumps({"G_ema": _Reduce(module._reconstruct_persistent_obj, meta)})
    monkeypatch.delitem(sys.modules, "torch_utils.persistence")
    monkeypatch.delitem(sys.modules, "torch_utils")
    path = tmp_path / "nested.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafeFileError, match=r"posix\.system"):
        load(path)
    assert not marker.exists()
    assert "torch_utils" not in sys.modules


def test_embedded_source_is_never_executed(tmp_path, monkeypatch):
    """The persistence hook's module_src is dropped unread: a valid snapshot whose embedded
    source would create a file loads normally, and the file is not created."""
    monkeypatch.chdir(tmp_path)
    placeholder = b"# reference source omitted"
    source = b"open('PWNED','w')#"
    source += b" " * (len(placeholder) - len(source))  # same length keeps the pickle's frames
    original = NV32_PKL.read_bytes()
    patched = original.replace(placeholder, source)
    assert patched != original
    path = tmp_path / "snapshot.pkl"
    path.write_bytes(patched)
    G = load(path)
    assert G.img_resolution == 32
    assert not (tmp_path / "PWNED").exists()


def test_torch_file_with_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(2, 2)},
                "args": _Reduce(os.system, _touch_command(marker))}, path)
    with pytest.raises(UnsafeFileError, match=r"`posix\.system`") as info:
        load(path)
    assert not marker.exists()
    assert "never runs code" in str(info.value)


def test_persistent_ids_are_refused(tmp_path):
    class WithPid(pickle.Pickler):
        def persistent_id(self, obj):
            return "storage" if isinstance(obj, bytes) else None

    path = tmp_path / "pid.pkl"
    with open(path, "wb") as handle:
        WithPid(handle).dump({"G": b"x"})
    with pytest.raises(UnsafeFileError, match="persistent ids"):
        load(path)


def test_tensorflow_pickle_gets_a_specific_message(tmp_path):
    data = b"\x80\x02cdnnlib.tflib.network\nNetwork\n)\x81}b."
    path = tmp_path / "stylegan2-ffhq-config-f.pkl"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match="TensorFlow StyleGAN network pickle"):
        load(path)


def test_non_numeric_numpy_scalars_are_refused(tmp_path):
    # numpy.dtype('O') would let the file build arbitrary objects through numpy scalars.
    data = b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R."
    path = tmp_path / "np.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafeFileError, match="numpy dtype"):
        load_pickle(path)


def test_legitimate_pickles_still_load():
    assert load(NV32_PKL).img_resolution == 32
    assert load_discriminator(NV32_PKL).img_resolution == 32
