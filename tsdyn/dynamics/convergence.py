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

