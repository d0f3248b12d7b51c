"""Reading checkpoints without running code from them.

A pickle is a small program: each global it names is imported and may be called. NVlabs network
pickles name ``torch_utils.persistence._reconstruct_persistent_obj``, which, in the reference
code, *executes the Python source embedded in the file* to rebuild its classes. That is why
those pickles need ``dnnlib``/``torch_utils`` on the path (``No module named torch_utils``), and
why loading a stranger's pickle is running a stranger's program.

:class:`RestrictedUnpickler` resolves globals from a fixed allow-list of harmless callables
(tensor and storage rebuilders, ``OrderedDict``, numeric numpy scalars) and replaces the
persistence hook by :class:`PersistentRecord`, a passive record of the module's recorded
``__dict__``. The embedded source is never looked at. Any other global is refused when the
unpickler *reads its name*, before any call in the file can happen.

``.pt`` files go through :func:`torch_load`, i.e. ``torch.load(weights_only=True)`` with the
same kind of error reporting.
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import pickle
import re
from pathlib import Path
from typing import IO, Any

import torch

from gan_adapt.errors import CheckpointError, UnsafeFileError

#: Friendly spellings of globals as pickles record them (``os.system`` is ``posix.system``).
_ALIASES = {"posix.system": "os.system", "nt.system": "os.system", "__builtin__.eval": "eval",
            "builtins.eval": "eval", "builtins.exec": "exec"}

_NUMERIC_KINDS = "biufc"  # bool, int, uint, float, complex


class PersistentRecord:
    """Stand-in for an NVlabs persistent object: its class name and recorded ``__dict__``.

    It only stores what the pickle gives it. ``meta["module_src"]`` (the class's source code) is
    dropped unread: gan-adapt rebuilds networks from its own code.
    """

    def __init__(self, meta: Any) -> None:
        if not isinstance(meta, dict) or meta.get("type") != "class" \
                or not isinstance(meta.get("class_name"), str) \
                or not isinstance(meta.get("state"), dict):
            raise CheckpointError("the pickle holds a persistent-object record of an unknown "
                                  "kind; only NVlabs network pickles are supported")
        self.class_name: str = meta["class_name"]
        self.version = meta.get("version")
        self.state: dict[str, Any] = meta["state"]

    def __repr__(self) -> str:
        return f"PersistentRecord({self.class_name})"

    def attr(self, name: str, default: Any = None) -> Any:
        """A plain attribute of the recorded module (e.g. ``conv_clamp``)."""
        return self.state.get(name, default)

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs") or {})

    @property
    def modules(self) -> dict[str, PersistentRecord]:
        """Child records by attribute name (None entries dropped)."""
        subs = self.state.get("_modules") or {}
        out = {}
        for name, sub in subs.items():
            if sub is None:
                continue
            if not isinstance(name, str):
                raise CheckpointError(f"the pickle names a sub-module {name!r}, not a string")
            if not isinstance(sub, PersistentRecord):
                raise CheckpointError(f"the pickle's sub-module {name!r} is not a recorded "
                                      "network module")
            out[name] = sub
        return out

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers of this module and its children, with dotted names
        in ``state_dict()`` order."""
        out: dict[str, torch.Tensor] = {}
        skip = set(self.state.get("_non_persistent_buffers_set") or ())
        for kind in ("_parameters", "_buffers"):
            for name, t in (self.state.get(kind) or {}).items():
                if not isinstance(name, str):
                    raise CheckpointError(f"the pickle names a tensor {name!r}, not a string")
                if t is None or (kind == "_buffers" and name in skip):
                    continue
                if not isinstance(t, torch.Tensor):
                    raise CheckpointError(f"the pickle's {prefix}{name} is not a tensor")
                out[prefix + name] = t.detach()
        for name, sub in self.modules.items():
            out.update(sub.tensors(f"{prefix}{name}."))
        return out


#: More modules than any StyleGAN2 has (the 1024 px generator has a few hundred).
MAX_RECORDS = 100_000


def check_module_tree(root: PersistentRecord, source: str) -> None:
    """Refuse a network whose recorded modules do not form a tree.

    A network's modules nest as a tree, and the loaders walk them as one. A pickle can make
    records share sub-records (its memo allows any graph): 40 levels of two children that are
    one record are a few hundred bytes and 2**40 paths to walk. This walk visits each record
    once, so it takes time linear in the file, and refuses a record reached twice (or a cycle).
    """
    seen = {id(root)}
    stack = [root]
    while stack:
        record = stack.pop()
        children = record.state.get("_modules") or {}
        if not isinstance(children, dict):
            raise CheckpointError(f"{source}: a recorded module's sub-modules are not a dict")
        for name, child in children.items():
            if not isinstance(child, PersistentRecord):
                continue  # None, or a wrong kind that `modules` reports by name
            if id(child) in seen:
                raise CheckpointError(
                    f"{source}: the network's recorded modules share the sub-module {name!r} "
                    "(the records form a graph, not a tree). Genuine network pickles never "
                    "do; the file is corrupt or crafted.")
            seen.add(id(child))
            if len(seen) > MAX_RECORDS:
                raise CheckpointError(f"{source}: the network records more than "
                                      f"{MAX_RECORDS:,} modules; it is not a StyleGAN2")
            stack.append(child)


class _EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict`` (a dict with attribute access)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    return PersistentRecord(meta)


def _load_storage(data: Any) -> Any:
    """``torch.storage._load_from_bytes``: each storage is a tiny ``torch.save`` blob, itself
    read with ``weights_only=True``."""
    if not isinstance(data, (bytes, bytearray)):
        raise CheckpointError("the pickle's tensor storage is not a byte string")
    return torch_load(io.BytesIO(bytes(data)), what="a tensor storage inside the pickle")


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> torch.Tensor:
    # The file's requires_grad flag and backward hooks are ignored on purpose.
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise CheckpointError("the pickle rebuilds a tensor from something that is not storage")
    return torch._utils._rebuild_tensor_v2(storage, int(offset), tuple(size), tuple(stride),
                                           False, collections.OrderedDict())


def _rebuild_parameter(data: Any, *_: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise CheckpointError("the pickle rebuilds a parameter from something that is not a "
                              "tensor")
    return data


def _numpy_dtype(spec: Any, align: Any = False, copy: Any = False) -> Any:
    import numpy as np

    dtype = np.dtype(str(spec), bool(align), bool(copy))
    if dtype.kind not in _NUMERIC_KINDS:
        raise UnsafeFileError(f"refused: the pickle asks for a numpy dtype {spec!r}; only "
                              "numeric scalars are allowed")
    return dtype


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy.core.multiarray.scalar``: a numeric numpy scalar, returned as a Python number."""
    import numpy as np

    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS \
            or not isinstance(data, (bytes, bytearray)):
        raise UnsafeFileError("refused: the pickle asks for a non-numeric numpy scalar")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0].item()


def _encode_latin1(text: Any, encoding: Any = "latin1") -> bytes:
    """``_codecs.encode``: how protocol-2 pickles spell a bytes object (text, 'latin1')."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafeFileError("refused: the pickle calls `_codecs.encode` with unexpected "
                              "arguments")
    return text.encode("latin1")


#: The complete allow-list: (module, name) as recorded in the pickle -> what it becomes here.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "dtype"): _numpy_dtype,
    # Older pickle protocols spell sets and bytes this way.
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("_codecs", "encode"): _encode_latin1,
}


def _python3_name(global_name: str) -> str:
    """Protocol-2 pickles (``torch.save``) spell modules the Python 2 way: ``commands.Popen``
    is ``subprocess.Popen``, ``__builtin__.eval`` is ``builtins.eval``."""
    import _compat_pickle

    module, _, name = global_name.rpartition(".")
    if not module:  # torch's weights-only loader names builtins bare ("eval")
        return name
    return f"{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{name}"


def _refusal(global_name: str, source: str) -> UnsafeFileError:
    modern = _python3_name(global_name)
    alias = _ALIASES.get(global_name) or _ALIASES.get(modern) or modern
    shown = f"`{global_name}`" + (f" ({alias})" if alias and alias != global_name else "")
    return UnsafeFileError(
        f"Refused to load {source}: the file asks for {shown}, which is not on gan-adapt's "
        "allow-list. gan-adapt never runs code from checkpoints, and nothing from this file was "
        "executed. If it is a genuine checkpoint from a source you trust, re-save its tensors "
        "in a plain format (e.g. `torch.save(model.state_dict(), path)`) and load that.")


class RestrictedUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that resolves only :data:`ALLOWED_GLOBALS`."""

    def __init__(self, file: IO[bytes], source: str = "the file") -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        # Every way a pickle can reach a global (GLOBAL, STACK_GLOBAL, INST, OBJ, EXT*) comes
        # through here, so refusing here refuses before anything is called.
        allowed = ALLOWED_GLOBALS.get((module, name))
        if allowed is not None:
            return allowed
        if module.startswith("dnnlib.tflib"):
            raise CheckpointError(
                f"{self.source} is a TensorFlow StyleGAN network pickle (it asks for "
                f"`{module}.{name}`). gan-adapt reads PyTorch checkpoints only: use the PyTorch "
                "release of the same network (`gan-adapt` model zoo names, or the "
                "stylegan2-ada-pytorch downloads), or a rosinality `.pt` conversion of it.")
        raise _refusal(f"{module}.{name}", self.source)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeFileError(f"Refused to load {self.source}: it uses pickle persistent ids, "
                              "which network pickles never do. Nothing was executed.")


def load_pickle(path: Path) -> Any:
    """Unpickle an NVlabs network pickle with :class:`RestrictedUnpickler`.

    Raises UnsafeFileError for a forbidden global and CheckpointError for a damaged file.
    """
    source = str(path)
    try:
        with open(path, "rb") as handle:
            return RestrictedUnpickler(handle, source).load()
    except CheckpointError:
        raise
    except Exception as exc:
        # Any other failure of the unpickler is a malformed file: wrong opcodes, a length field
        # claiming terabytes (MemoryError, OverflowError), absurd nesting, cut-off data.
        raise CheckpointError(
            f"{source} looks like a pickle but cannot be read ({type(exc).__name__}: {exc}). "
            "It is probably truncated or corrupt (an interrupted download?): download it "
            "again.") from None


_GLOBAL_RE = re.compile(r"GLOBAL ([\w.]+)")

#: ``torch.save(..., _use_new_zipfile_serialization=False)`` files (and each storage inside an
#: NVlabs pickle) start with this pickled magic number.
LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."


class _Placeholder:
    """What :class:`_SizeScanner` makes of every global and every call: nothing at all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.name = args[0] if args and isinstance(args[0], str) else ""

    def __call__(self, *args: Any, **kwargs: Any) -> _Placeholder:
        return _Placeholder()

    def __setstate__(self, state: Any) -> None:
        pass


class _SizeScanner(pickle.Unpickler):
    """Reads a legacy torch pickle without building anything, to add up the storage sizes it
    declares. Every global becomes an inert :class:`_Placeholder` (nothing is imported or
    called); every persistent id (a storage) is recorded."""

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file)
        self.declared = 0

    def find_class(self, module: str, name: str) -> Any:
        return _Placeholder(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            numel = pid[4]
            if isinstance(numel, int):
                self.declared += max(numel, 0) * _element_size(pid[1])
        return _Placeholder()


#: Bytes per element of the storage classes a legacy pickle names (``torch.FloatStorage`` ...).
_ELEMENT_SIZES = {"DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
                  "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
                  "ByteStorage": 1, "BoolStorage": 1, "ComplexDoubleStorage": 16,
                  "ComplexFloatStorage": 8, "UntypedStorage": 1}


def _element_size(storage_type: Any) -> int:
    """Bytes per element of a storage class named in a legacy pickle (1 if unknown)."""
    return _ELEMENT_SIZES.get(getattr(storage_type, "name", "").rpartition(".")[2], 1)


def check_legacy_sizes(handle: IO[bytes], size: int, what: str) -> None:
    """Refuse a legacy-format torch file whose storages declare more bytes than it has.

    torch allocates each storage at the size its record declares before reading the data, so
    a few hundred bytes could ask for gigabytes. ``handle`` is positioned at the start.
    """
    start = handle.tell()
    try:
        scanner = _SizeScanner(handle)
        for _ in range(3):  # magic number, protocol version, system info
            scanner.load()
        scanner.load()  # the object, whose storages are persistent ids
    except Exception:
        return  # not readable this way: torch.load reports the damage itself
    finally:
        handle.seek(start)
    if scanner.declared > size:
        raise CheckpointError(
            f"{what} declares {scanner.declared:,} bytes of tensor data but is only {size:,} "
            "bytes long: it is corrupt or crafted. Nothing was allocated for it.")


def _check_legacy_source(source: str | Path | IO[bytes], what: str) -> None:
    if isinstance(source, (str, Path)):
        with open(source, "rb") as handle:
            if handle.read(len(LEGACY_MAGIC)) == LEGACY_MAGIC:
                handle.seek(0)
                check_legacy_sizes(handle, os.fstat(handle.fileno()).st_size, what)
    elif hasattr(source, "getbuffer"):  # BytesIO
        data = source.getbuffer()
        if bytes(data[:len(LEGACY_MAGIC)]) == LEGACY_MAGIC:
            check_legacy_sizes(source, len(data), what)


def torch_load(source: str | Path | IO[bytes], what: str | None = None) -> Any:
    """``torch.load(source, weights_only=True, map_location="cpu")`` with clear errors.

    ``argparse.Namespace`` is allowed too: rosinality training checkpoints store their command
    line arguments as one, and rebuilding it only sets attributes.
    """
    from gan_adapt.weights.archive_kind import refuse_script_archive

    what = what or str(source)
    if isinstance(source, (str, Path)):
        refuse_script_archive(source, what)
    _check_legacy_source(source, what)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(source, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except pickle.UnpicklingError as exc:
        match = _GLOBAL_RE.search(str(exc))
        if match:
            raise _refusal(match.group(1), what) from None
        raise CheckpointError(f"{what} cannot be read as a PyTorch checkpoint "
                              f"({_first_line(exc)}); it may be corrupt.") from None
    except Exception as exc:
        # torch's weights-only unpickler lets malformed opcodes surface as IndexError, KeyError,
        # TypeError, MemoryError, ...: all of them mean a damaged file.
        raise CheckpointError(
            f"{what} cannot be read as a PyTorch checkpoint: it is truncated or corrupt "
            f"({_first_line(exc)}). Download or copy it again.") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
