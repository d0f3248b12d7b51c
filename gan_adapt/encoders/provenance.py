"""What an encoder's weights are: the record every instrument report quotes.

A builder that loads weights knows exactly what it loaded, so it says so when it builds:
:func:`set_source` attaches a :class:`WeightsSource` to the encoder (shipped model and sha256,
download name and sha256, a local file, or random initialisation). Readers call
:func:`weights_of`, which also understands ensembles (one record per member) and encoders from
plugins that declare nothing ("undeclared": never guessed, and never called random).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["shipped", "download", "file", "random", "undeclared"]


@dataclass(frozen=True)
class WeightsSource:
    """Where one network's weights came from."""

    kind: Kind
    name: str  # shipped model name, download name (ARCH:TAG / timm name), file path, or "init"
    sha256: str | None = None  # of the weights file, when known

    def describe(self) -> str:
        digest = f", sha256 {self.sha256}" if self.sha256 else ""
        if self.kind == "shipped":
            return f"shipped {self.name} (trained by gan-adapt{digest}; checked on load)"
        if self.kind == "download":
            return f"downloaded {self.name}{digest}"
        if self.kind == "file":
            return f"file {self.name}{digest}"
        if self.kind == "random":
            return f"random ({self.name})"
        return f"undeclared by {self.name} (its builder does not record its weights)"


def set_source(encoder: Any, source: WeightsSource) -> Any:
    """Attach ``source`` to ``encoder`` and return the encoder."""
    encoder.weights_source = source
    return encoder


def weights_of(encoder: Any) -> list[WeightsSource]:
    """The sources of an encoder's weights: one per ensemble member, else one."""
    members = getattr(encoder, "members", None)
    if members is not None:
        return [source for member in members for source in weights_of(member)]
    source = getattr(encoder, "weights_source", None)
    if isinstance(source, WeightsSource):
        return [source]
    return [WeightsSource("undeclared", type(encoder).__name__)]


def is_random(encoder: Any) -> bool:
    """True only when every weight of the encoder is known to be a random initialisation."""
    return all(source.kind == "random" for source in weights_of(encoder))


def describe(encoder: Any) -> str:
    """One line: the source, or ``member 1: ...; member 2: ...`` for an ensemble."""
    sources = weights_of(encoder)
    if getattr(encoder, "members", None) is None:
        return sources[0].describe()
    return "; ".join(f"member {i}: {s.describe()}" for i, s in enumerate(sources, 1))
