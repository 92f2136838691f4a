"""Learning-rate schedules eta(t) = eta_0 * f(t): the one owner of their definition.

Both engines and the ODE read a schedule through :func:`factor_at` (a Numba
function of the packed arrays of :meth:`Schedule.packed`), so a step at time
t = step / N of either engine and the ODE's right-hand side at t use the same
factor. Three kinds:

* ``constant``: f(t) = 1 (today's runs; the default);
* ``inverse``: f(t) = 1 / (1 + t / tau), the 1/t annealing whose asymptotic error with label noise
  decays as 1/t (Saad & Solla 1995, Sec. "learning rate annealing"; for t >> tau, eta(t) ~ eta_0 tau / t);
* ``piecewise``: f(t) = factors[j] on [times[j-1], times[j]) with times[-1] = 0, times[n] = inf.

Text form (command lines and TOMLs): ``"constant"``, ``"inverse:TAU"``,
``"piecewise:F0,T1:F1,T2:F2,..."`` (factor F0 from t = 0, F1 from T1, ...).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from tsdyn.checks import check_choice, check_real

KINDS = ("constant", "inverse", "piecewise")
CONSTANT, INVERSE, PIECEWISE = 0, 1, 2


@dataclass(frozen=True)
class Schedule:
    """A validated learning-rate schedule (module docstring).

    Attributes
    ----------
    kind : "constant", "inverse" or "piecewise".
    tau : time scale of "inverse" (> 0); unused otherwise.
    times : increasing switch times T1 < T2 < ... (> 0) of "piecewise".
    factors : the factors F0, F1, ... (>= 0; one more than ``times``) of "piecewise".
    """

    kind: str = "constant"
    tau: float = math.inf
    times: tuple[float, ...] = ()
    factors: tuple[float, ...] = (1.0,)

    def __post_init__(self):
        check_choice("lr_schedule kind", self.kind, KINDS)
        if self.kind == "inverse":
            check_real("lr_schedule tau", self.tau, low=0.0, low_open=True)
        if self.kind == "piecewise":
            times = [check_real("lr_schedule switch time", t, low=0.0, low_open=True) for t in self.times]
            if any(b <= a for a, b in zip(times, times[1:])):
                raise ValueError(f"lr_schedule switch times must increase strictly, got {list(self.times)}")
            if len(self.factors) != len(times) + 1:
                raise ValueError(f"lr_schedule piecewise needs one factor more than switch times, "
                                 f"got {len(self.factors)} factors for {len(times)} times")
            for f in self.factors:
                check_real("lr_schedule factor", f, low=0.0)

    @classmethod
    def parse(cls, spec) -> "Schedule":
        """A schedule from its text form, a Schedule, or None (constant). One-line ``ValueError`` otherwise."""
        if spec is None:
            return cls()
        if isinstance(spec, Schedule):
            return spec
        if not isinstance(spec, str):
            raise ValueError(f"lr_schedule must be 'constant', 'inverse:TAU' or 'piecewise:F0,T1:F1,...', "
                             f"got {spec!r}")
        kind, _, rest = spec.strip().partition(":")
        try:
            if kind == "constant" and not rest:
                return cls()
            if kind == "inverse":
                return cls(kind="inverse", tau=float(rest))
            if kind == "piecewise":
                first, *switches = rest.split(",")
                pairs = [s.split(":") for s in switches]
                if any(len(p) != 2 for p in pairs):
                    raise ValueError
                return cls(kind="piecewise", times=tuple(float(t) for t, _ in pairs),
                           factors=(float(first),) + tuple(float(f) for _, f in pairs))
        except ValueError as exc:
            if str(exc).startswith("lr_schedule"):
                raise
        raise ValueError(f"lr_schedule must be 'constant', 'inverse:TAU' or 'piecewise:F0,T1:F1,...', got {spec!r}")

    def label(self) -> str:
        """The text form (inverse of :meth:`parse`)."""
        if self.kind == "constant":
            return "constant"
        if self.kind == "inverse":
            return f"inverse:{self.tau:g}"
        return "piecewise:" + ",".join([f"{self.factors[0]:g}"] +
                                       [f"{t:g}:{f:g}" for t, f in zip(self.times, self.factors[1:])])

    def packed(self) -> tuple[int, float, np.ndarray, np.ndarray]:
        """``(code, tau, times, factors)``: the arguments of :func:`factor_at` for Numba kernels."""
        return (KINDS.index(self.kind), float(self.tau), np.asarray(self.times, dtype=np.float64),
                np.asarray(self.factors, dtype=np.float64))

    def factor(self, t) -> np.ndarray | float:
        """f(t) at one time or an array of times."""
        code, tau, times, factors = self.packed()
        if np.ndim(t) == 0:
            return factor_at(code, tau, times, factors, float(t))
        t = np.asarray(t, dtype=np.float64)
        return np.array([factor_at(code, tau, times, factors, x) for x in t.ravel()]).reshape(t.shape)


@numba.njit(cache=True)
def factor_at(code: int, tau: float, times: np.ndarray, factors: np.ndarray, t: float) -> float:
    """f(t) of a packed schedule (:meth:`Schedule.packed`); the one formula engines and ODE share."""
    if code == CONSTANT:
        return 1.0
    if code == INVERSE:
        return 1.0 / (1.0 + t / tau)
    j = 0
    while j < times.size and t >= times[j]:
        j += 1
    return factors[j]
