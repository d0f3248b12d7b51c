"""Params model of the cross-domain consistency term (torch-free: validation imports only this)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CrossDomainConsistencyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch: int | None = Field(4, ge=3, description=(
        "Fresh random latents per step (the reference draws 4, without style mixing); "
        "omitted: the step's own latents (then the step's batch must be at least 3)."))
    layers: list[int] | None = Field(None, min_length=1, description=(
        "Feature indices (styled convolutions in W+ order, 0 = the 4x4 one) a sample may "
        "draw; omitted: all but the first."))

    def min_batch(self) -> int:
        """On the step's own latents each sample is compared with two others or more:
        `validate` refuses step kinds with a batch under 3."""
        return 3 if self.batch is None else 1
