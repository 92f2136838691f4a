"""Finite-N simulation against the N -> infinity ODE: the measures of issue 11.

From a start held fixed in order-parameter space, raising N shrinks the SGD
noise (O(N^{-1/2}) per unit time) while the start stays put, so every run
should converge to the ODE at every time, plateau exits included
(theory/ode_vs_simulation.md, Sec. 4). These functions turn runs into the
numbers the criterion speaks of; they know nothing about how the runs were made.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np



def worst_deviation(times: np.ndarray, eg_sim: np.ndarray, eg_ode: np.ndarray, *, tmin: float = 1.0,
                    tmax: float = np.inf) -> float:
    """max over record times in [tmin, tmax] of |eps_sim / eps_ODE - 1| (one run against its ODE)."""
    times, eg_sim, eg_ode = (np.asarray(a, dtype=float) for a in (times, eg_sim, eg_ode))
    if not times.shape == eg_sim.shape == eg_ode.shape:
        raise ValueError(f"times, eg_sim and eg_ode must have one shape, got {times.shape}, {eg_sim.shape}, "
                         f"{eg_ode.shape}")
    window = (times >= tmin) & (times <= tmax)
    if not window.any():
        raise ValueError(f"no record time in [tmin, tmax] = [{tmin:g}, {tmax:g}]")
    return float(np.max(np.abs(eg_sim[window] / eg_ode[window] - 1.0)))


@dataclass(frozen=True)
class LineFit:
    """Least-squares line y = slope * x + intercept, with the slope's standard error."""

    slope: float
    intercept: float
    slope_se: float

    def __call__(self, x):
        return self.slope * np.asarray(x, dtype=float) + self.intercept


def fit_line(x: np.ndarray, y: np.ndarray) -> LineFit:
    """Ordinary least squares of ``y`` on ``x`` (at least two distinct x; the s.e. needs three points)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d arrays of one length, got {x.shape} and {y.shape}")
    if np.unique(x).size < 2:
        raise ValueError("fit_line needs at least two distinct x values")
    X = np.column_stack([x, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    dof = x.size - 2
    if dof > 0:
        resid = y - X @ coef
        cov = (resid @ resid / dof) * np.linalg.inv(X.T @ X)
        se = float(np.sqrt(cov[0, 0]))
    else:
        se = float("nan")
    return LineFit(float(coef[0]), float(coef[1]), se)


def loglog_slope(N: np.ndarray, deviation: np.ndarray) -> LineFit:
    """Slope of log(deviation) against log N: -1/2 for noise-limited convergence."""
    N, deviation = np.asarray(N, dtype=float), np.asarray(deviation, dtype=float)
    if np.any(N <= 0) or np.any(deviation <= 0):
        raise ValueError("loglog_slope needs positive N and deviations")
    return fit_line(np.log(N), np.log(deviation))


def exit_law(N: np.ndarray, t_exit: np.ndarray) -> LineFit:
    """Fit t_exit = a ln N + b over every start (NaN exits, runs that never left, are refused)."""
    N, t_exit = np.asarray(N, dtype=float), np.asarray(t_exit, dtype=float)
    if np.any(~np.isfinite(t_exit)):
        raise ValueError(f"{int(np.sum(~np.isfinite(t_exit)))} runs never left the plateau: raise tmax")
    return fit_line(np.log(N), t_exit)



@dataclass(frozen=True)
class ConvergenceCriterion:
    """Issue 11's criterion on the worst deviations of the replicas, per start and sigma.

    The median over replicas falls with N at a fitted log-log slope in ``slope_range``;
    at the largest N, if it is at least ``final_N``, the median is <= ``final_median``
    and every replica <= ``final_max`` (a reduced study, with smaller N, checks the slope only).
    """

    slope_range: tuple[float, float] = (-0.7, -0.3)
    final_median: float = 0.03
    final_max: float = 0.08
    final_N: int = 128_000

    def judge(self, N: np.ndarray, worst: np.ndarray) -> dict:
        """Verdict for one (start, sigma): ``N`` and ``worst`` hold one entry per replica run."""
        N, worst = np.asarray(N, dtype=float), np.asarray(worst, dtype=float)
        Ns = np.unique(N)
        medians = np.array([np.median(worst[N == n]) for n in Ns])
        fit = loglog_slope(Ns, medians)
        last = worst[N == Ns[-1]]
        slope_ok = self.slope_range[0] <= fit.slope <= self.slope_range[1]
        final = Ns[-1] >= self.final_N
        median_ok = bool(np.median(last) <= self.final_median) if final else None
        max_ok = bool(np.max(last) <= self.final_max) if final else None
        return dict(slope=fit.slope, slope_se=fit.slope_se, N_max=int(Ns[-1]), median_at_N_max=float(np.median(last)),
                    max_at_N_max=float(np.max(last)), replicas_at_N_max=int(last.size), slope_ok=slope_ok,
                    median_ok=median_ok, max_ok=max_ok,
                    holds=bool(slope_ok and (not final or (median_ok and max_ok))))


def exit_summary(N: np.ndarray, t_exit: np.ndarray, predicted_slope: float, *, tolerance: float = 0.2) -> dict:
    """The plateau-exit law: fitted slope of t_exit against ln N beside 1/(2 mu), and the spread per N."""
    N, t_exit = np.asarray(N, dtype=float), np.asarray(t_exit, dtype=float)
    fit = exit_law(N, t_exit)
    ratio = fit.slope / predicted_slope
    per_N = {int(n): (float(np.mean(t_exit[N == n])), float(np.std(t_exit[N == n], ddof=1)), int(np.sum(N == n)))
             for n in np.unique(N)}
    return dict(slope=fit.slope, slope_se=fit.slope_se, intercept=fit.intercept, predicted_slope=predicted_slope,
                ratio=ratio, agrees=bool(abs(ratio - 1) <= tolerance), per_N=per_N)
