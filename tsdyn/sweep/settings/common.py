"""What every target's settings share: strict number types, the training run and the model-breadth keys."""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import (
    BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator,
)

from tsdyn.conventions import activation_label
from tsdyn.dynamics.schedules import Schedule
from tsdyn.pathkernel.scores import SCORE_NAMES


#: A real number: int or float, never a bool or a string; the int stays an int.
Real = Union[StrictInt, StrictFloat]
PosInt = Annotated[StrictInt, Field(ge=1)]
NonNegInt = Annotated[StrictInt, Field(ge=0)]
# N, K, steps and sample counts beyond these would not fit in memory or an int64 step counter.
SizeInt = Annotated[StrictInt, Field(ge=1, le=10**9)]
StepsInt = Annotated[StrictInt, Field(ge=1, le=10**15)]
CountInt = Annotated[StrictInt, Field(ge=0, le=10**9)]
Seed = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
NonNegReal = Annotated[Real, Field(ge=0)]
PosReal = Annotated[Real, Field(gt=0)]
Seeds = Annotated[list[Seed], Field(min_length=1, max_length=100_000)]
Sigmas = Annotated[list[NonNegReal], Field(min_length=1, max_length=1000)]
PRUNERS = SCORE_NAMES + ("synflow_iter", "random_edge", "random_node")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def check_distinct(name: str, values) -> None:
    if values is not None and len(set(values)) != len(values):
        raise ValueError(f"{name} must list distinct values, got {values}")


def check_node_counts(name: str, values, K: int) -> None:
    """``values`` (numbers of kept nodes, each >= 1 by type) are distinct and at most K."""
    if values and max(values) > K:
        raise ValueError(f"{name} must list integers in 1..K = {K}, got {values}")
    check_distinct(name, values)


class Breadth(Strict):
    """The model-breadth keys of a training run (issue 16); absent means today's model.

    activation: "erf", "relu", "linear" or "teacher/student"; weight_decay: kappa >= 0;
    batch: samples per step >= 1; lr_schedule, lr2_schedule: "constant", "inverse:TAU",
    "piecewise:F0,T1:F1,..." (:mod:`tsdyn.dynamics.schedules`; lr2_schedule defaults to lr_schedule).
    """

    activation: StrictStr | None = None
    weight_decay: NonNegReal | None = None
    batch: Annotated[StrictInt, Field(ge=1, le=10**6)] | None = None
    lr_schedule: StrictStr | None = None
    lr2_schedule: StrictStr | None = None

    @model_validator(mode="after")
    def _breadth_values(self):
        if self.activation is not None:
            activation_label(self.activation)
        for name in ("lr_schedule", "lr2_schedule"):
            spec = getattr(self, name)
            if spec is not None:
                try:
                    Schedule.parse(spec)
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        return self


class Network(Breadth):
    """The teacher-student setting and the training run shared by the training targets."""

    M: PosInt
    K: PosInt
    N: SizeInt
    lr: PosReal
    lr2: NonNegReal | None = None
    vstar: Real
    steps: StepsInt
    init_scale: PosReal | None = None
    per_decade: PosInt | None = None
    train_second_layer: StrictBool | None = None
    train_test_samples: CountInt | None = None
    engine: Literal["weights", "order"] | None = None
    final_weights: Literal["in_law"] | None = None

    @model_validator(mode="after")
    def _k_at_least_m(self):
        if self.K < self.M:
            raise ValueError(f"K must be an integer >= M = {self.M}, got {self.K}")
        if self.final_weights is not None and self.engine != "order":
            raise ValueError(f"final_weights = 'in_law' needs engine = 'order' (the weights engine has its own), "
                             f"got engine = {self.engine!r}")
        return self


class Training(Network):
    sigmas: Sigmas
    seeds: Seeds

    @model_validator(mode="after")
    def _distinct_lists(self):
        check_distinct("seeds", self.seeds)
        check_distinct("sigmas", self.sigmas)
        return self
