"""Late-time laws of eps_g with label noise: the constant-rate floor and the decay under 1/t annealing.

With label noise sigma > 0 and a constant rate eta, online SGD does not converge:
eps_g settles at a floor proportional to eta sigma^2 for small eta (the sigma^2 J2
term of the ODE balances the drift; Saad & Solla, "Learning with noise and
regularizers in multilayer neural networks", NIPS 9, 1997, the asymptotic phase
with output noise; Goldt et al. 2019, Sec. 3, where the final error of the ODE
grows with eta sigma^2). Annealing eta(t) = eta_0 / (1 + t / tau) lets the floor
follow the rate down: eps_g decays like 1/t once eta_0 tau exceeds the inverse of
the slowest relaxation rate (Saad & Solla 1995, PRE 52, 4225, the discussion of
learning-rate annealing in the asymptotic phase; :mod:`tsdyn.dynamics.schedules`).

These are the pure functions the ``breadth`` target reports: a log-log slope over a
window of t, and the mean level of a curve over a late window.
"""
from __future__ import annotations

import numpy as np

from tsdyn.checks import check_real
from tsdyn.dynamics.convergence import LineFit, fit_line


def _window(times, values, t_low: float, t_high: float) -> tuple[np.ndarray, np.ndarray]:
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    t_low = check_real("t_low", t_low, low=0.0, low_open=True)
    t_high = check_real("t_high", t_high, low=t_low, low_open=True)
    inside = (times >= t_low) & (times <= t_high) & (values > 0)
    if inside.sum() < 2:
        raise ValueError(f"the window t in [{t_low:g}, {t_high:g}] must hold at least two record times with "
                         f"eps_g > 0, got {int(inside.sum())}")
    return times[inside], values[inside]


def loglog_slope(times, eg, t_low: float, t_high: float) -> LineFit:
    """Least-squares slope of log eps_g against log t on t in [t_low, t_high] (with its standard error).

    Under 1/t annealing with noise the slope tends to -1 (module docstring); at a
    constant rate to 0 (the floor).
    """
    t, e = _window(times, eg, t_low, t_high)
    return fit_line(np.log(t), np.log(e))


def late_level(times, eg, t_low: float, t_high: float) -> float:
    """Mean eps_g over the record times in [t_low, t_high] (the floor of a constant-rate run)."""
    return float(np.mean(_window(times, eg, t_low, t_high)[1]))
