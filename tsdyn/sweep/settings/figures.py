"""Settings of the pruning paper's figures and theorem checks: fig2a, fig2b, fig3, fig4, theorems."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt, model_validator

from tsdyn.sweep.settings.common import PosInt, CountInt, Seed, NonNegReal, Strict, Training


class Fig2a(Training):
    test_samples: CountInt | None = None


class Fig2b(Training):
    edge_masks: PosInt


class Fig3(Training):
    kn: PosInt
    subset_seed: Seed | None = None

    @model_validator(mode="after")
    def _kn_at_most_k(self):
        if self.kn > self.K:
            raise ValueError(f"kn must be an integer <= K = {self.K}, got {self.kn}")
        return self


class OdeVsSim(Training):
    replicas: PosInt
    ensemble_seeds: Annotated[StrictInt, Field(ge=0, le=100_000)] | None = None
    replica_sigmas: list[NonNegReal] | None = None


class ZGrid(Strict):
    Z_min: PosInt | None = None
    Z_max: Annotated[StrictInt, Field(ge=1, le=10_000)] | None = None
    c_values: Annotated[StrictInt, Field(ge=2, le=100_000)] | None = None

    @model_validator(mode="after")
    def _z_order(self):
        if self.Z_min is not None and self.Z_max is not None and self.Z_max < self.Z_min:
            raise ValueError(f"Z_max must be an integer >= Z_min = {self.Z_min}, got {self.Z_max}")
        return self


class Fig4(ZGrid):
    pass


class Theorems(ZGrid):
    settings: Annotated[list[Literal["fig2a", "fig2b"]], Field(min_length=1)]
    Z_min: PosInt
    Z_max: Annotated[StrictInt, Field(ge=1, le=10_000)]
    c_values: Annotated[StrictInt, Field(ge=2, le=100_000)]
    M_max: Annotated[StrictInt, Field(ge=1, le=1000)]
