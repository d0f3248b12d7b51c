"""Contract checks at the engine boundary: what a plugin's component hands back to the engine.

A term (loss or search objective) returns its value as a finite 0-dim floating tensor on the
run's device; an encoder returns ``[N, embed_dim]`` embeddings, N being the number of inputs. A
component that breaks this gets a one-line :class:`~gan_adapt.errors.PluginError` naming the
plugin, the component, its recipe path and what was expected, instead of a traceback from deep
inside the engine (or, worse, from the term that consumed a wrong-shaped embedding).

The checks read shapes, dtypes and devices only: no device sync, nothing on the hot path beyond a
few attribute reads. Finiteness of term values is checked by the loop once per update (one sync).

*Check mode* (``gan-adapt run --check-plugins`` or ``GAN_ADAPT_CHECK_PLUGINS=1``), for debugging a
plugin, adds the checks that cost: the first time each term applies in an update, its gradient
alone is computed and must reach what the update trains (G_t's trainable parameters, or the
latent ``w`` in the search) and be finite; every embedding must be finite and unit-length.
A term whose value deliberately carries no gradient (a monitor) sets ``has_gradient = False``.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import os
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import torch

from gan_adapt.errors import PluginError

CHECK_ENV = "GAN_ADAPT_CHECK_PLUGINS"
_check_mode: ContextVar[bool] = ContextVar("gan_adapt_check_plugins", default=False)


def check_mode() -> bool:
    """True in check mode (``--check-plugins`` or ``GAN_ADAPT_CHECK_PLUGINS=1``)."""
    return _check_mode.get() or os.environ.get(CHECK_ENV, "") not in ("", "0")


@contextlib.contextmanager
def checking(enabled: bool = True) -> Iterator[None]:
    """Turn check mode on (when ``enabled``) for the code run inside the block."""
    token = _check_mode.set(enabled or _check_mode.get())
    try:
        yield
    finally:
        _check_mode.reset(token)


# ---------------------------------------------------------------------------------------------
# Term values


def _describe_value(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {list(value.shape)}"
    return f"a {type(value).__name__}"


def term_value(value: Any, device: torch.device, where: Callable[[], str]) -> torch.Tensor:
    """``value`` as the engine needs it: a 0-dim floating tensor on ``device``.

    A Python or NumPy real number is accepted and wrapped (it carries no gradient); anything
    else that breaks the contract is a PluginError that starts with ``where()`` (the term, its
    plugin, its recipe path and the step; built only on failure).
    """
    if (isinstance(value, torch.Tensor) and value.dim() == 0 and value.is_floating_point()
            and value.device == device):
        return value  # the common case, decided in a few attribute reads
    where = where()
    expected = f"expected a 0-dim floating-point tensor on the run's device ({device})"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return torch.tensor(float(value), device=device)
    if not isinstance(value, torch.Tensor):
        raise PluginError(f"{where} returned {_describe_value(value)}; {expected}")
    if value.dim() != 0:
        hint = " (reduce it, e.g. with .mean())" if value.numel() != 1 else \
            " (use .squeeze() or .reshape(()))"
        raise PluginError(f"{where} returned {_describe_value(value)}; {expected}{hint}")
    if not value.is_floating_point():
        raise PluginError(f"{where} returned {_describe_value(value)}; {expected}")
    if value.device != device and not _same_device(value.device, device):
        raise PluginError(f"{where} returned a tensor on {value.device}; {expected}")
    return value


def _same_device(a: torch.device, b: torch.device) -> bool:
    """``cuda`` and ``cuda:0`` are one device when the current device is 0."""
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    current = torch.cuda.current_device() if torch.cuda.is_available() else 0
    return (a.index if a.index is not None else current) == \
        (b.index if b.index is not None else current)


# ---------------------------------------------------------------------------------------------
# Gradient flow (check mode)


def check_gradient(term: Any, value: torch.Tensor, inputs: Sequence[torch.Tensor],
                   reaches: str, where: str) -> None:
    """Check mode: ``value``'s own gradient reaches ``inputs`` (what the update trains, named
    ``reaches`` in messages) and is finite, unless the term says ``has_gradient = False``."""
    if not getattr(term, "has_gradient", True):
        return
    opt_out = "set has_gradient = False on the term if it only monitors"
    trainable = [t for t in inputs if t.requires_grad]
    if not value.requires_grad:
        raise PluginError(f"{where}: its value carries no gradient, so it cannot train "
                          f"{reaches} (was it computed under torch.no_grad, detached, or from "
                          f"a Python number?); {opt_out}")
    if not trainable:
        return  # another term narrowed this update to nothing (select_parameters)
    grads = torch.autograd.grad(value, trainable, retain_graph=True, allow_unused=True)
    present = [g for g in grads if g is not None]
    if not present:
        raise PluginError(f"{where}: its value has a gradient, but none of it reaches "
                          f"{reaches} (it depends only on constants); {opt_out}")
    if not all(bool(torch.isfinite(g).all()) for g in present):
        raise PluginError(f"{where}: its gradient with respect to {reaches} is not finite "
                          "(NaN/Inf): a square root, norm or division at zero?")


def check_first_gradients(state: Any, update: str, terms: Sequence[Any],
                          values: dict[str, torch.Tensor], inputs: Sequence[torch.Tensor],
                          reaches: str) -> None:
    """Check mode: :func:`check_gradient` for each of ``terms`` the first time it applies in
    ``update`` ("search", "generator") of the run ``state`` (later steps are not checked again:
    the check costs one extra backward pass per term)."""
    checked = state.__dict__.setdefault("_contract_checked", set())
    for term in terms:
        if (update, term.label) in checked:
            continue
        checked.add((update, term.label))
        where = (f"{term.path}, {term.kind} {term.spec.name!r} from plugin {term.source!r}, at "
                 f"{state.phase} step {state.step}")
        check_gradient(term.impl, values[term.label], inputs, reaches, where)


# ---------------------------------------------------------------------------------------------
# Encoders

#: The encoder methods whose outputs are checked, with the shapes they must return.
ENCODER_METHODS = ("embed_images", "embed_patches", "embed_many", "embed_pair", "embed_text")


def guard_encoder(encoder: Any, where: str) -> Any:
    """Check ``encoder``'s declared ``embed_dim`` now and its embeddings at every call.

    The checking wrappers are set on the instance, so the encoder keeps its identity (terms and
    the step's shared embeddings key on it) and its type. ``where`` names the encoder
    (``encoders.clip: encoder 'clip' from plugin 'x'``).
    """
    dim = getattr(encoder, "embed_dim", None)
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise PluginError(f"{where} declares embed_dim = {dim!r}; an encoder must declare the "
                          "length of its embeddings as a positive int attribute `embed_dim`")
    for method_name in ENCODER_METHODS:
        method = getattr(encoder, method_name, None)
        if method is None or getattr(method, "_gan_adapt_checked", False):
            continue
        wrapper = _CHECKERS[method_name](method, encoder, where)
        wrapper._gan_adapt_checked = True  # type: ignore[attr-defined]
        object.__setattr__(encoder, method_name, wrapper)
    return encoder


def _embeddings(out: Any, rows: Sequence[int], encoder: Any, where: str, call: str) -> None:
    """``out`` must be a float tensor ``[*rows, embed_dim]``."""
    dim = encoder.embed_dim
    expected = [*rows, dim]
    if not isinstance(out, torch.Tensor):
        raise PluginError(f"{where} broke its contract: {call} returned {_describe_value(out)}; "
                          f"expected a tensor of shape {expected} ([inputs, embed_dim])")
    if list(out.shape) != expected:
        detail = (f"embeddings of length {out.shape[-1]} although it declares embed_dim = {dim}"
                  if out.dim() == len(expected) and list(out.shape[:-1]) == list(rows)
                  else f"shape {list(out.shape)}")
        raise PluginError(f"{where} broke its contract: {call} returned {detail}; expected "
                          f"{expected} ([inputs, embed_dim], one row per input)")
    if not out.is_floating_point():
        raise PluginError(f"{where} broke its contract: {call} returned "
                          f"{_describe_value(out)}; expected floating-point embeddings")
    if check_mode():
        with torch.no_grad():
            finite = bool(torch.isfinite(out).all())
            norms = out.detach().float().norm(dim=-1)
        if not finite:
            raise PluginError(f"{where}: {call} returned non-finite embeddings (NaN/Inf)")
        if out.numel() and not bool(((norms - 1).abs() < 1e-3).all()):
            raise PluginError(f"{where}: {call} returned embeddings that are not L2-normalised "
                              f"(norms {norms.min().item():.4g}..{norms.max().item():.4g}); "
                              "the encoder interface promises unit-length embeddings")


def _rows(x: Any) -> int:
    return int(x.shape[0]) if isinstance(x, torch.Tensor) and x.dim() > 0 else len(x)


def _images_checker(method: Any, encoder: Any, where: str) -> Any:
    @functools.wraps(method)
    def embed_images(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        out = method(x, *args, **kwargs)
        _embeddings(out, [_rows(x)], encoder, where, f"embed_images({_rows(x)} images)")
        return out
    return embed_images


def _patches_checker(method: Any, encoder: Any, where: str) -> Any:
    @functools.wraps(method)
    def embed_patches(x: torch.Tensor, boxes: torch.Tensor, *args: Any,
                      **kwargs: Any) -> torch.Tensor:
        out = method(x, boxes, *args, **kwargs)
        n, p = _rows(x), int(boxes.shape[-2])
        _embeddings(out, [n, p], encoder, where, f"embed_patches({n} images, {p} boxes)")
        return out
    return embed_patches


def _many_checker(method: Any, encoder: Any, where: str) -> Any:
    @functools.wraps(method)
    def embed_many(groups: Sequence[torch.Tensor], grad: Sequence[bool], *args: Any,
                   **kwargs: Any) -> list[torch.Tensor]:
        outs = method(groups, grad, *args, **kwargs)
        sizes = [_rows(g) for g in groups]
        call = f"embed_many(groups of {sizes} images)"
        if not isinstance(outs, (list, tuple)) or len(outs) != len(groups):
            got = (f"{len(outs)} results" if isinstance(outs, (list, tuple))
                   else _describe_value(outs))
            raise PluginError(f"{where} broke its contract: {call} returned {got}; expected "
                              f"a list of {len(groups)} tensors, one per group")
        for out, n in zip(outs, sizes):
            _embeddings(out, [n], encoder, where, call)
        return outs
    return embed_many


def _pair_checker(method: Any, encoder: Any, where: str) -> Any:
    @functools.wraps(method)
    def embed_pair(source: torch.Tensor, target: torch.Tensor, *args: Any,
                   **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        out = method(source, target, *args, **kwargs)
        call = f"embed_pair({_rows(source)}, {_rows(target)} images)"
        if not isinstance(out, (list, tuple)) or len(out) != 2:
            raise PluginError(f"{where} broke its contract: {call} returned "
                              f"{_describe_value(out)}; expected two tensors")
        _embeddings(out[0], [_rows(source)], encoder, where, call)
        _embeddings(out[1], [_rows(target)], encoder, where, call)
        return out
    return embed_pair


def _text_checker(method: Any, encoder: Any, where: str) -> Any:
    @functools.wraps(method)
    def embed_text(texts: Sequence[str], *args: Any, **kwargs: Any) -> torch.Tensor:
        out = method(texts, *args, **kwargs)
        n = 1 if isinstance(texts, str) else len(texts)
        _embeddings(out, [n], encoder, where, f"embed_text({n} texts)")
        return out
    return embed_text


_CHECKERS = {"embed_images": _images_checker, "embed_patches": _patches_checker,
             "embed_many": _many_checker, "embed_pair": _pair_checker,
             "embed_text": _text_checker}
