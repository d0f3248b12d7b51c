"""The tensors of a TorchScript archive, read without running any of its code.

A TorchScript archive (``torch.jit.save``; OpenAI's original CLIP release is one) is a zip of
``code/`` (TorchScript source of every class), ``data.pkl`` (the module objects and their
attributes) and ``data/N`` (the raw bytes of each tensor storage). ``torch.jit.load`` compiles
that code and runs it: a class's ``__setstate__`` is called while loading, and TorchScript can
write files (``torch.from_file(path, shared=True)`` maps a file writable). So gan-adapt never
hands a weights file to ``torch.jit.load``.

:func:`read_script_tensors` reads ``data.pkl`` with an unpickler that knows only tensors: every
``__torch__.*`` class becomes a passive :class:`ScriptObject` that keeps the attributes the file
gives it, each storage is the bytes of its ``data/N`` entry (size checked before reading), and
any other global is refused by name. Which attributes are parameters and buffers is read from
the ``__parameters__`` / ``__buffers__`` lines of the class's code, as text. An object with its
own ``__setstate__`` (its state is not an attribute dict) is refused: its tensors only exist
after its code runs.
"""

from __future__ import annotations

import ast
import collections
import io
import pickle
import re
import sys
import zipfile
from pathlib import Path
from typing import IO, Any

import torch

from gan_adapt.errors import CheckpointError, UnsafeFileError
from gan_adapt.weights.archive_kind import is_script_archive, refuse_script_archive  # noqa: F401
from gan_adapt.weights.safe_pickle import _rebuild_parameter, _rebuild_tensor, _refusal

#: Storage classes a TorchScript pickle names (``torch.FloatStorage``) and their dtypes.
_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}

#: Largest code file read for its parameter lists (genuine ones are a few KB).
_MAX_CODE_BYTES = 4 << 20
#: Largest data.pkl read (OpenAI's ViT-L/14 archive has one of well under 1 MB).
_MAX_PICKLE_BYTES = 64 << 20

_LIST_LINE = re.compile(r"^\s+(__parameters__|__buffers__)\s*=\s*(\[.*?\])\s*$", re.M)
_CLASS_LINE = re.compile(r"^class\s+(\w+)\s*\(", re.M)


class ScriptObject:
    """Stand-in for one TorchScript object: its class's qualified name and its attributes."""

    qualified_name = "__torch__"
    source = "the archive"

    def __init__(self) -> None:  # NEWOBJ calls __new__ only; BUILD then sets the state
        self.attributes: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise UnsafeFileError(
                f"Refused to load {self.source}: its TorchScript class `{self.qualified_name}` "
                "restores itself with its own `__setstate__` code, which only torch.jit.load "
                "would run. gan-adapt never runs code from weights files, and nothing from this "
                "file was executed. Re-save its tensors as .safetensors to use it.")
        self.attributes = state

    def __repr__(self) -> str:
        return f"ScriptObject({self.qualified_name})"


class _StorageType:
    """What ``torch.FloatStorage`` and friends become: only their dtype."""

    def __init__(self, name: str) -> None:
        self.dtype = _STORAGE_DTYPES[name]


class _ScriptUnpickler(pickle.Unpickler):
    def __init__(self, handle: IO[bytes], archive: zipfile.ZipFile, prefix: str,
                 source: str) -> None:
        super().__init__(handle)
        self.archive, self.prefix, self.source = archive, prefix, source
        self.classes: dict[str, type[ScriptObject]] = {}
        self.storages: dict[str, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "__torch__" or module.startswith("__torch__."):
            qualified = f"{module}.{name}"
            if qualified not in self.classes:  # a passive class per name, never imported
                self.classes[qualified] = type("ScriptObject", (ScriptObject,),
                                               {"qualified_name": qualified,
                                                                "source": self.source})
            return self.classes[qualified]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        allowed = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
                   ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
                   ("collections", "OrderedDict"): collections.OrderedDict}.get((module, name))
        if allowed is None:
            raise _refusal(f"{module}.{name}", self.source)
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and isinstance(pid[4], int)):
            raise CheckpointError(f"{self.source}: a tensor storage record of an unknown form")
        _, kind, key, _location, numel = pid
        if key not in self.storages:
            self.storages[key] = self._storage(kind.dtype, key, numel)
        return self.storages[key]

    def _storage(self, dtype: torch.dtype, key: str, numel: int) -> Any:
        entry = f"{self.prefix}data/{key}"
        try:
            info = self.archive.getinfo(entry)
        except KeyError:
            raise CheckpointError(f"{self.source}: the archive lacks the tensor data "
                                  f"{entry!r}") from None
        # torch stores tensor data uncompressed; a compressed entry could inflate without bound
        if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
            raise CheckpointError(f"{self.source}: the tensor data {entry!r} is compressed, "
                                  "which torch never writes; the archive is crafted")
        size = info.file_size
        item = torch.empty((), dtype=dtype).element_size()
        if numel < 0 or numel * item != size:
            raise CheckpointError(f"{self.source}: the storage {entry!r} declares {numel:,} "
                                  f"elements, but holds {size:,} bytes")
        raw = bytearray(self.archive.read(entry))
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        return torch.TypedStorage(wrap_storage=flat.untyped_storage(), dtype=dtype,
                                  _internal=True)


def _archive_prefix(archive: zipfile.ZipFile, source: str) -> str:
    tops = [name[:-len("data.pkl")] for name in archive.namelist()
            if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(tops) != 1:
        raise CheckpointError(f"{source} is a zip archive but not a TorchScript archive with one "
                              "data.pkl")
    return tops[0]


def _declared_tensors(archive: zipfile.ZipFile, prefix: str) -> dict[str, set[str]]:
    """Per qualified class name, the attributes its code declares as parameters or buffers
    (the code is read as text and never compiled)."""
    declared: dict[str, set[str]] = {}
    for info in archive.infolist():
        name = info.filename
        if not (name.startswith(f"{prefix}code/") and name.endswith(".py")) \
                or info.file_size > _MAX_CODE_BYTES:
            continue
        module = name[len(f"{prefix}code/"):-len(".py")].replace("/", ".")
        text = archive.read(info).decode("utf-8", "replace")
        starts = [(m.start(), m.group(1)) for m in _CLASS_LINE.finditer(text)]
        for index, (start, cls) in enumerate(starts):
            end = starts[index + 1][0] if index + 1 < len(starts) else len(text)
            names: set[str] = set()
            for match in _LIST_LINE.finditer(text, start, end):
                try:
                    names.update(n for n in ast.literal_eval(match.group(2)) if isinstance(n, str))
                except (ValueError, SyntaxError):
                    continue
            declared[f"{module}.{cls}"] = names
    return declared


def read_script_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The parameters and buffers of the TorchScript archive ``path``, by dotted name, in
    ``state_dict()`` order; no code from the file is compiled or run.

    Raises UnsafeFileError for a global outside tensors or an object restored by its own code,
    CheckpointError for a damaged archive.
    """
    source = str(path)
    with zipfile.ZipFile(path) as archive:
        prefix = _archive_prefix(archive, source)
        byteorder = archive.read(f"{prefix}byteorder").decode("ascii", "replace").strip() \
            if f"{prefix}byteorder" in archive.namelist() else "little"
        if byteorder != sys.byteorder:
            raise CheckpointError(f"{source} stores {byteorder}-endian tensors; this machine is "
                                  f"{sys.byteorder}-endian")
        declared = _declared_tensors(archive, prefix)
        if archive.getinfo(f"{prefix}data.pkl").file_size > _MAX_PICKLE_BYTES:
            raise CheckpointError(f"{source}: its data.pkl is far larger than a network's")
        # read whole (and bounded) first: the unpickler then cannot ask for more than is there
        handle = io.BytesIO(archive.read(f"{prefix}data.pkl")[:_MAX_PICKLE_BYTES])
        root = _ScriptUnpickler(handle, archive, prefix, source).load()
    if not isinstance(root, ScriptObject):
        raise CheckpointError(f"{source}: the archive's data.pkl does not hold a module")
    return _walk(root, declared, source)


def _walk(root: ScriptObject, declared: dict[str, set[str]], source: str
          ) -> dict[str, torch.Tensor]:
    """Tensors of ``root`` and its sub-objects (depth first, attribute order), each object
    visited once: shared or cyclic objects are refused, so a tiny file cannot ask for an
    exponential walk."""
    out: dict[str, torch.Tensor] = {}
    seen = {id(root)}
    stack: list[tuple[str, ScriptObject]] = [("", root)]
    while stack:
        prefix, obj = stack.pop()
        wanted = declared.get(obj.qualified_name)
        children = []
        for name, value in obj.attributes.items():
            if isinstance(value, torch.Tensor):
                if wanted is None or name in wanted:
                    out[prefix + name] = value.detach()
            elif isinstance(value, ScriptObject):
                if id(value) in seen:
                    raise CheckpointError(f"{source}: the archive's objects share "
                                          f"{prefix + name!r} (a graph, not a module tree)")
                seen.add(id(value))
                children.append((f"{prefix}{name}.", value))
        stack.extend(reversed(children))
    return out
