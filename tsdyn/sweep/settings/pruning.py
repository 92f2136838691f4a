"""Settings of the pruning studies: pathkernel, retrain, prune_at_init, theorems_zc."""
from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, StrictInt, StrictStr, model_validator

from tsdyn.pathkernel.scores import SCORE_NAMES
from tsdyn.sweep.settings.common import (
    Real, PosInt, NonNegInt, SizeInt, StepsInt, Seed, NonNegReal, PosReal, Seeds, Sigmas, PRUNERS,
    Strict, check_distinct, check_node_counts,
)


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
        check_node_counts("kn", self.kn, self.K)
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
        check_node_counts("edge_kn", self.edge_kn, self.K)
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
        check_distinct("reweights", self.reweights)
        return self


class Convergence(Strict):
    """Part 5 of issue 13: fixed pruned starts retrained at several N against their ODE
    (:mod:`tsdyn.pruning.retrain_convergence`)."""

    student: StrictStr
    sigma: NonNegReal
    seed: Seed
    kn: PosInt
    methods: Annotated[list[Literal["dpp", "random"]], Field(min_length=1, max_length=2)]
    draws: Annotated[StrictInt, Field(ge=2, le=10_000)]
    Ns: Annotated[list[SizeInt], Field(min_length=2, max_length=20)]
    dts: Annotated[list[PosReal], Field(min_length=1)]
    family_alpha: Annotated[Real, Field(gt=0, lt=1)]

    @model_validator(mode="after")
    def _distinct(self):
        for name in ("methods", "Ns", "dts"):
            check_distinct(name, getattr(self, name))
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
    convergence: Convergence | None = None

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
        if self.convergence is not None:
            self._check_convergence(self.convergence)
        return self

    def _check_convergence(self, conv: Convergence) -> None:
        if conv.student not in self.students:
            raise ValueError(f"convergence.student must be one of {sorted(self.students)}, got {conv.student!r}")
        st = self.students[conv.student]
        if conv.kn > st.K:
            raise ValueError(f"convergence.kn must be an integer in 1..K = {st.K}, got {conv.kn}")
        seeds, sigmas = st.seeds or self.seeds, st.sigmas or self.sigmas
        if conv.seed not in seeds or conv.sigma not in sigmas:
            raise ValueError(f"convergence.seed and convergence.sigma must be one of the student's trained runs "
                             f"(seeds {seeds}, sigmas {sigmas}), got seed {conv.seed}, sigma {conv.sigma}")
        low = max(conv.kn, st.M) + st.M + 1      # the order engine needs N >= K + M + B
        if min(conv.Ns) < low:
            raise ValueError(f"convergence.Ns must be integers >= K' + M + 1 = {low}, got {conv.Ns}")


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
        check_distinct("seeds", self.seeds)
        check_distinct("K", self.K)
        return self


class ZcStudents(Strict):
    """One student setting of theorems_zc: M teacher nodes and the values of Z = K / M."""

    M: PosInt
    Z: Annotated[list[Annotated[StrictInt, Field(ge=1, le=20)]], Field(min_length=1)]

    @model_validator(mode="after")
    def _cross(self):
        check_distinct("Z", self.Z)
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
        check_distinct("seeds", self.seeds)
        check_distinct("sigmas", self.sigmas)
        return self
