"""Settings of the dynamics studies: ode_convergence and breadth (ode_vs_sim is a training target, in figures)."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt, StrictStr, model_validator

from tsdyn.conventions import activation_label
from tsdyn.dynamics.schedules import Schedule
from tsdyn.sweep.settings.common import (
    Real, PosInt, SizeInt, Seed, NonNegReal, PosReal, Seeds, Sigmas, Strict, check_distinct, Breadth,
)


class OdeConvergence(Strict):
    """The fixed-start convergence study and the plateau exit (issue 11), order-parameter engine."""

    M: PosInt
    K: PosInt
    lr: PosReal
    vstar: Real
    start_N: SizeInt
    starts: Seeds
    sigmas: Sigmas
    Ns: Annotated[list[SizeInt], Field(min_length=2)]
    replicas: PosInt
    t_final: PosReal
    slope_range: Annotated[list[Real], Field(min_length=2, max_length=2)]
    final_N: SizeInt
    final_median: PosReal
    final_max: PosReal
    exit_sigmas: Sigmas
    exit_Ns: Annotated[list[SizeInt], Field(min_length=2)]
    exit_starts: Annotated[StrictInt, Field(ge=2, le=100_000)]
    exit_t_final: PosReal
    exit_per_decade: PosInt
    exit_fraction: Annotated[Real, Field(gt=0, lt=1)]
    exit_tolerance: PosReal
    label: StrictStr | None = None

    @model_validator(mode="after")
    def _cross(self):
        if self.K < self.M or self.K < 2:
            raise ValueError(f"K must be an integer >= max(M, 2) = {max(self.M, 2)}, got {self.K}")
        small = [n for n in self.Ns + self.exit_Ns if n <= self.K + self.M]
        if small:
            raise ValueError(f"Ns and exit_Ns must be integers > K + M = {self.K + self.M} (order engine), got {small}")
        if self.slope_range[0] > self.slope_range[1]:
            raise ValueError(f"slope_range must be [low, high] with low <= high, got {self.slope_range}")
        for name in ("starts", "sigmas", "Ns", "exit_sigmas", "exit_Ns"):
            check_distinct(name, getattr(self, name))
        return self


class BreadthActivations(Strict):
    """Part (a) of the breadth target: erf, ReLU and linear students against their ODE (issue 16, part 5)."""

    K: PosInt
    lr: PosReal
    sigma: NonNegReal
    activations: Annotated[list[StrictStr], Field(min_length=1, max_length=10)]
    Ns: Annotated[list[SizeInt], Field(min_length=1, max_length=10)]
    t_final: PosReal

    @model_validator(mode="after")
    def _cross(self):
        from tsdyn.activation_integrals import ode_supported

        for a in self.activations:
            activation_label(a)
            if not ode_supported(a):
                raise ValueError(f"activations must list pairs the ODE reduces (not erf/relu), got {a!r}")
        check_distinct("activations", [activation_label(a) for a in self.activations])
        check_distinct("Ns", self.Ns)
        return self


class BreadthAnnealing(Breadth):
    """Part (b): constant against 1/t-annealed rates with label noise (Saad & Solla's annealing result).

    The breadth keys activation, weight_decay and batch apply to both runs; lr2_schedule to the
    annealed one (default: lr_schedule), whose first-layer schedule is lr_schedule.
    """

    K: PosInt
    lr: PosReal
    sigma: Annotated[Real, Field(gt=0)]
    lr_schedule: StrictStr
    N: SizeInt
    t_final: PosReal
    ode_t_final: PosReal
    fit_range: Annotated[list[PosReal], Field(min_length=2, max_length=2)]
    ode_fit_range: Annotated[list[PosReal], Field(min_length=2, max_length=2)]
    noise_lrs: Annotated[list[PosReal], Field(min_length=1, max_length=20)]

    @model_validator(mode="after")
    def _cross(self):
        if self.activation is not None:
            activation_label(self.activation)
            from tsdyn.activation_integrals import ode_supported

            if not ode_supported(self.activation):
                raise ValueError(f"activation must be a pair the ODE reduces (not erf/relu), got {self.activation!r}")
        try:
            Schedule.parse(self.lr_schedule)
        except ValueError as exc:
            raise ValueError(f"lr_schedule: {exc}") from None
        if Schedule.parse(self.lr_schedule).kind != "inverse":
            raise ValueError(f"lr_schedule must be an 1/t annealing 'inverse:TAU', got {self.lr_schedule!r}")
        for name, high in (("fit_range", self.t_final), ("ode_fit_range", self.ode_t_final)):
            lo, hi = getattr(self, name)
            if not lo < hi <= high:
                raise ValueError(f"{name} must be [low, high] with low < high <= {high:g}, got {getattr(self, name)}")
        check_distinct("noise_lrs", self.noise_lrs)
        return self


class BreadthTarget(Strict):
    """The breadth target (issue 16): shared start and replicas, then its two studies."""

    M: PosInt
    vstar: Real
    start_N: SizeInt
    seed: Seed
    replicas: Annotated[StrictInt, Field(ge=1, le=1000)]
    per_decade: Annotated[StrictInt, Field(ge=1, le=100)]
    activations: BreadthActivations
    annealing: BreadthAnnealing
    label: StrictStr | None = None

    @model_validator(mode="after")
    def _cross(self):
        for name, K in (("activations.K", self.activations.K), ("annealing.K", self.annealing.K)):
            if K < self.M:
                raise ValueError(f"{name} must be an integer >= M = {self.M}, got {K}")
        small = [n for n in self.activations.Ns + [self.annealing.N, self.start_N]
                 if n <= max(self.activations.K, self.annealing.K) + self.M]
        if small:
            raise ValueError(f"Ns, annealing.N and start_N must be integers > K + M (order engine), got {small}")
        return self
