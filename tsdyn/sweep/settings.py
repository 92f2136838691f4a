"""Typed, strict settings of each sweep target: one pydantic model per ``sims/<target>.toml``.

Strict means no coercion: booleans are booleans, integers are integers (an
integer is accepted where a real number is expected, and kept an integer, so a
job's parameters - and its cache key - are what the TOML says), lists are
lists. Unknown keys are refused. Cross-field rules (K >= M, Z_max >= Z_min, ...)
are checked too. :func:`tsdyn.sweep.config.load_config` turns a failure into
one line naming the file, the table and the key.
"""
from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator

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


def _distinct(name: str, values) -> None:
    if values is not None and len(set(values)) != len(values):
        raise ValueError(f"{name} must list distinct values, got {values}")


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
        _distinct("seeds", self.seeds)
        _distinct("sigmas", self.sigmas)
        return self


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


Fraction = Annotated[StrictStr, Field(pattern=r"^\s*\d+\s*/\s*\d+\s*$|^\s*0?\.\d+\s*$|^\s*1\s*$")]
Layers = Annotated[list[Literal["both", "first"]], Field(min_length=1)]


class Student(Strict):
    """A trained student of the pathkernel target: its training run's parameters and the budgets k_n."""

    M: PosInt
    K: PosInt
    N: SizeInt
    lr: PosReal
    vstar: Real
    steps: StepsInt
    kn: Annotated[list[PosInt], Field(min_length=1)]
    sigmas: Sigmas | None = None
    engine: Literal["weights", "order"] | None = None     # as the target whose run it is (fig2b: order)
    final_weights: Literal["in_law"] | None = None

    @model_validator(mode="after")
    def _cross(self):
        if self.K < self.M:
            raise ValueError(f"K must be an integer >= M = {self.M}, got {self.K}")
        if max(self.kn) > self.K:
            raise ValueError(f"kn must list integers in 1..K = {self.K}, got {self.kn}")
        _distinct("kn", self.kn)
        return self


class Pathkernel(Strict):
    sigmas: Sigmas
    seeds: Seeds
    layers: Layers
    scores: Annotated[list[Literal[SCORE_NAMES]], Field(min_length=1)]
    score_samples: SizeInt
    edge_masks: PosInt
    dpp_max_subsets: PosInt
    students: Annotated[dict[StrictStr, Student], Field(min_length=1)]


class RetrainStudent(Student):
    """A trained student of the retrain target (= fig2a / fig2b's run) and what is retrained from it."""

    sgd_seeds: Annotated[list[Seed], Field(min_length=0)]
    sgd_draws: PosInt
    edge_kn: Annotated[list[PosInt], Field(min_length=0)]
    edge_masks: PosInt
    edge_sigmas: list[NonNegReal]
    seeds: Seeds | None = None
    sgd_kn: Annotated[list[PosInt], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _edge_kn_at_most_k(self):
        if self.edge_kn and max(self.edge_kn) > self.K:
            raise ValueError(f"edge_kn must list integers in 1..K = {self.K}, got {self.edge_kn}")
        _distinct("edge_kn", self.edge_kn)
        return self


class During(Strict):
    """Part 4 of issue 13: prune during training at the plateau, just after its exit, or at the end."""

    student: StrictStr
    sigmas: Sigmas
    seeds: Seeds | None = None
    t_plateau: PosReal
    exit_fraction: Annotated[Real, Field(gt=0, lt=1)]
    t_total: PosReal
    kn: PosInt
    draws: PosInt
    edge_masks: NonNegInt
    reweights: Annotated[list[Literal["none", "optimal"]], Field(min_length=1, max_length=2)] | None = None

    @model_validator(mode="after")
    def _distinct_reweights(self):
        _distinct("reweights", self.reweights)
        return self


class Retrain(Strict):
    sigmas: Sigmas
    seeds: Seeds
    dt_max: PosReal
    per_decade: Annotated[StrictInt, Field(ge=1, le=100)]
    draws: PosInt
    rank_dts: Annotated[list[PosReal], Field(min_length=1)]
    agreement_dts: Annotated[list[PosReal], Field(min_length=1)]
    engine_replicas: Annotated[StrictInt, Field(ge=2, le=1000)]
    lr_scan: Annotated[list[PosReal], Field(min_length=1)]
    lr_scan_dt: PosReal
    check_lr: PosReal | None = None     # part 3: the slow-rate ODE from the K' >= M starts (why never within 2x)
    check_dt: PosReal | None = None
    label: StrictStr | None = None      # the full study (sims/full/retrain.toml) writes retrain_full.*
    students: Annotated[dict[StrictStr, RetrainStudent], Field(min_length=1)]
    during: During

    @model_validator(mode="after")
    def _cross(self):
        if (self.check_lr is None) != (self.check_dt is None):
            raise ValueError(f"check_lr and check_dt must be given together, got {self.check_lr} and {self.check_dt}")
        for name in ("rank_dts", "agreement_dts"):
            if max(getattr(self, name)) > self.dt_max:
                raise ValueError(f"{name} must lie in (0, dt_max = {self.dt_max}], got {getattr(self, name)}")
        if self.during.student not in self.students:
            raise ValueError(f"during.student must be one of {sorted(self.students)}, got {self.during.student!r}")
        st = self.students[self.during.student]
        if self.during.kn > st.K:
            raise ValueError(f"during.kn must be an integer in 1..K = {st.K}, got {self.during.kn}")
        if self.during.t_total * st.N <= st.steps:
            raise ValueError(f"during.t_total must exceed the training time steps / N = {st.steps / st.N:g}, "
                             f"got {self.during.t_total}")
        return self


class PruneAtInit(Strict):
    M: PosInt
    N: SizeInt
    lr: PosReal
    vstar: Real
    sigma: NonNegReal
    t_final: PosReal
    K: Annotated[list[PosInt], Field(min_length=1)]
    budgets: Annotated[list[Fraction], Field(min_length=1)]
    layers: Layers
    seeds: Seeds
    pruners: Annotated[list[Literal[PRUNERS]], Field(min_length=1)]
    score_samples: SizeInt
    iterative_rounds: PosInt
    speed_times: Annotated[list[PosReal], Field(min_length=1)]
    ntk_samples: PosInt
    label: StrictStr | None = None

    @model_validator(mode="after")
    def _cross(self):
        if min(self.K) < self.M:
            raise ValueError(f"K must list integers >= M = {self.M}, got {self.K}")
        if max(self.speed_times) > self.t_final:
            raise ValueError(f"speed_times must lie in (0, t_final = {self.t_final}], got {self.speed_times}")
        for c in self.budgets:
            num, _, den = c.partition("/")
            value = float(num) / float(den) if den else float(num)
            if not 0 < value <= 1:
                raise ValueError(f"budgets must be fractions in (0, 1], got {c!r}")
        _distinct("seeds", self.seeds)
        _distinct("K", self.K)
        return self


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
            _distinct(name, getattr(self, name))
        return self


class ZcStudents(Strict):
    """One student setting of theorems_zc: M teacher nodes and the values of Z = K / M."""

    M: PosInt
    Z: Annotated[list[Annotated[StrictInt, Field(ge=1, le=20)]], Field(min_length=1)]

    @model_validator(mode="after")
    def _cross(self):
        _distinct("Z", self.Z)
        if self.M * max(self.Z) > 20:
            raise ValueError(f"Z must list integers with K = M Z <= 20 (exact enumeration), got M = {self.M}, Z = {self.Z}")
        return self


class TheoremsZc(Strict):
    """Theorems 1-3 on converged students across (Z, c) (issue 12), order-parameter engine."""

    students: Annotated[list[ZcStudents], Field(min_length=1)]
    N: SizeInt
    lr: PosReal
    vstar: Real
    sigmas: Sigmas
    seeds: Seeds
    t_first: PosReal
    t_paper: PosReal
    t_cap: PosReal
    per_decade: PosInt
    cos_min: Annotated[Real, Field(ge=0, le=1)]
    v_min: NonNegReal
    max_subsets: PosInt
    along_M: PosInt
    along_Z: list[PosInt]
    ode_method: Literal["LSODA", "BDF", "Radau", "DOP853", "RK45", "RK23"]
    ode_rtol: Annotated[Real, Field(gt=0, lt=1)]
    ode_K_max: PosInt
    label: StrictStr | None = None

    @model_validator(mode="after")
    def _cross(self):
        if not self.t_first <= self.t_paper <= self.t_cap:
            raise ValueError(f"t_first <= t_paper <= t_cap must hold, got {self.t_first}, {self.t_paper}, {self.t_cap}")
        grid = self.t_first * 2.0 ** round(math.log2(self.t_paper / self.t_first))
        if abs(grid - self.t_paper) > 1e-9 * self.t_paper:
            raise ValueError(f"t_paper must be t_first * 2^j (a checkpoint), got {self.t_paper} with t_first = {self.t_first}")
        if self.t_cap / self.t_first > 2.0 ** 60:
            raise ValueError(f"t_cap must be <= 2^60 t_first, got {self.t_cap}")
        small = [M * max(s.Z) for s in self.students for M in [s.M] if M * max(s.Z) + M >= self.N]
        if small:
            raise ValueError(f"N must be an integer > K + M for every student (order engine), got {self.N}")
        _distinct("seeds", self.seeds)
        _distinct("sigmas", self.sigmas)
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
        _distinct("activations", [activation_label(a) for a in self.activations])
        _distinct("Ns", self.Ns)
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
        _distinct("noise_lrs", self.noise_lrs)
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


#: The settings model of each target.
MODELS: dict[str, type[Strict]] = {
    "fig2a": Fig2a, "fig2b": Fig2b, "fig3": Fig3, "fig4": Fig4, "theorems": Theorems, "theorems_zc": TheoremsZc,
    "ode_vs_sim": OdeVsSim, "ode_convergence": OdeConvergence, "pathkernel": Pathkernel,
    "prune_at_init": PruneAtInit, "retrain": Retrain, "breadth": BreadthTarget,
}
