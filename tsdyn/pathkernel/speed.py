"""The convergence claim of the path-kernel paper, tested on pruned-at-init students (Sec. 5.1, Figs 1-2).

Rows are flat dicts, one per (run, t): ``drop`` = eps(0) - eps(t) and
``rel_drop`` = drop / eps(0) at the times of the speed grid, with the run's
Tr Pi at initialisation (``trace_pi0``) and after the first epoch
(``trace_pi1``, t = 1 = N steps), and its NTK trace.

Two claims are fitted:

* **Figure 1**: speed(t) = a (1 - exp(-eta Tr Pi(theta_1) t / N)). The
  paper's curve has no free rate; in our units Pi's entries are O(1) per input
  coordinate while the fields carry 1/sqrt N, so Tr Pi / N is the rate's natural
  scale (``rate="paper"``, a fitted). ``rate="free"`` fits a and a factor b in
  the exponent, which measures how wrong that scale is.
* **Figure 2**: speed(t) = a + b log Tr Pi(theta_0) at each t (least squares, R^2),
  and the same against the log of the true NTK trace.

Each fit is made over all runs and within a budget (one (K, c) pair). Runs
whose mask leaves no path (every v_k pruned: Tr Pi = 0, the GE never moves)
are left out of the fits; they stay in the rows.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import linregress

SPEED_FIELDS = ("K", "c", "layers", "pruner", "seed", "t", "eg0", "eg_t", "drop", "rel_drop", "out_norm_t",
                "trace_pi0", "trace_pi1", "ntk_trace0", "ntk_trace0_factorised", "dw1")
FIT_FIELDS = ("claim", "y", "x", "t", "group", "n", "a", "b", "r2")
#: y of the fits: absolute and relative GE drop.
SPEEDS = ("drop", "rel_drop")


def speed_rows(run: dict, result: dict, speed_times) -> list[dict]:
    """One row per speed time of one run; ``run`` holds K, c, layers, pruner, seed; ``result`` the job's output."""
    eg0 = float(result["eg"][0])
    rows = []
    for t, eg_t, norm in zip(speed_times, result["eg_speed"], result["out_norm_speed"]):
        rows.append(dict(run, t=float(t), eg0=eg0, eg_t=float(eg_t), drop=eg0 - float(eg_t),
                         rel_drop=(eg0 - float(eg_t)) / eg0, out_norm_t=float(norm),
                         trace_pi0=float(result["trace_pi0"]), trace_pi1=float(result["trace_pi1"]),
                         ntk_trace0=float(result["ntk_trace0"]),
                         ntk_trace0_factorised=float(result["ntk_trace0_factorised"]), dw1=float(result["dw1"])))
    return rows


def r_squared(y, fit) -> float:
    """1 - SS_res / SS_tot (can be negative: the fit is worse than the mean)."""
    y, fit = np.asarray(y, float), np.asarray(fit, float)
    ss_tot = np.sum((y - y.mean()) ** 2)
    return float(1.0 - np.sum((y - fit) ** 2) / ss_tot) if ss_tot > 0 else math.nan


def fit_saturation(y, rate_t, *, free_rate: bool) -> tuple[float, float, float]:
    """Least squares of y = a (1 - exp(-b rate_t)); b = 1 unless ``free_rate``. Returns (a, b, R^2).

    For fixed b, a is linear (closed form); b is found on a log scale.
    """
    y, rate_t = np.asarray(y, float), np.asarray(rate_t, float)

    def best_a(b):
        f = 1.0 - np.exp(-b * rate_t)
        denom = float(f @ f)
        a = float(f @ y) / denom if denom > 0 else 0.0
        return a, float(np.sum((y - a * f) ** 2))

    b = 1.0
    if free_rate:
        grid = np.logspace(-6, 3, 91)
        start = grid[int(np.argmin([best_a(g)[1] for g in grid]))]
        res = minimize_scalar(lambda lb: best_a(math.exp(lb))[1], bounds=(math.log(start) - 0.2, math.log(start) + 0.2),
                              method="bounded")
        b = math.exp(res.x)
    a, _ = best_a(b)
    return a, b, r_squared(y, a * (1.0 - np.exp(-b * rate_t)))


def _groups(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    budgets = sorted({(r["K"], r["c"]) for r in rows})
    return [("all", rows)] + [(f"K={K} c={c:.4g}", [r for r in rows if (r["K"], r["c"]) == (K, c)])
                              for K, c in budgets]


def figure1_fits(rows: list[dict], *, lr: float, N: int) -> list[dict]:
    """The Figure 1 curve fitted over every (run, t) of each group, for each speed and both rate choices."""
    rows = [r for r in rows if r["trace_pi0"] > 0]
    fits = []
    for y_key in SPEEDS:
        for group, sel in _groups(rows):
            if len(sel) < 3:
                continue
            rate_t = np.array([lr * r["trace_pi1"] / N * r["t"] for r in sel])
            y = np.array([r[y_key] for r in sel])
            for claim, free in (("fig1_paper_rate", False), ("fig1_free_rate", True)):
                a, b, r2 = fit_saturation(y, rate_t, free_rate=free)
                fits.append(dict(claim=claim, y=y_key, x="eta*trace_pi1/N*t", t=math.nan, group=group, n=len(sel),
                                 a=a, b=b, r2=r2))
    return fits


def figure2_fits(rows: list[dict]) -> list[dict]:
    """speed(t) = a + b log x at each t, x = Tr Pi(theta_0) or the true NTK trace, per group."""
    rows = [r for r in rows if r["trace_pi0"] > 0]   # a network without paths does not train
    fits = []
    for x_key in ("trace_pi0", "ntk_trace0"):
        for y_key in SPEEDS:
            for t in sorted({r["t"] for r in rows}):
                for group, sel in _groups([r for r in rows if r["t"] == t]):
                    xs = np.log([r[x_key] for r in sel])
                    if len(sel) < 3 or np.ptp(xs) == 0:
                        continue
                    fit = linregress(xs, [r[y_key] for r in sel])
                    fits.append(dict(claim="fig2_log_linear", y=y_key, x=f"log {x_key}", t=t, group=group, n=len(sel),
                                     a=float(fit.intercept), b=float(fit.slope), r2=float(fit.rvalue ** 2)))
    return fits


THEOREM1_FIELDS = ("kernel", "networks", "pointwise_all_hold", "pointwise_frac_median", "pointwise_frac_min",
                   "max_ratio_median", "max_ratio_max", "weyl_all_hold", "sum_holds", "sum_ratio_min",
                   "sum_ratio_median", "sum_ratio_max")


def theorem1_summary(results: list[dict]) -> list[dict]:
    """How often path-kernel Theorem 1 holds over the pruned networks, and how tight it is (one row per kernel).

    ``pointwise_all_hold``: fraction of networks with lambda_i <= nu_i pi_i for
    every i; ``max_ratio``: max_i lambda_i / (nu_i pi_i); ``sum_holds``: fraction
    with sum lambda <= sum nu pi; ``sum_ratio``: their ratio (1 = tight). Networks
    without any path (every v_k pruned) are left out.
    """
    results = [r for r in results if np.isfinite(r["thm1_true_sum_ratio"])]   # networks with a path left
    out = []
    for kind in ("true", "factorised"):
        frac = np.array([r[f"thm1_{kind}_pointwise_frac"] for r in results])
        ratio = np.array([r[f"thm1_{kind}_pointwise_max_ratio"] for r in results])
        weyl = np.array([r[f"thm1_{kind}_weyl_frac"] for r in results])
        total = np.array([r[f"thm1_{kind}_sum_ratio"] for r in results])
        out.append(dict(kernel=kind, networks=len(results), pointwise_all_hold=float(np.mean(frac == 1.0)),
                        pointwise_frac_median=float(np.median(frac)), pointwise_frac_min=float(frac.min()),
                        max_ratio_median=float(np.median(ratio)), max_ratio_max=float(ratio.max()),
                        weyl_all_hold=float(np.mean(weyl == 1.0)), sum_holds=float(np.mean(total <= 1 + 1e-9)),
                        sum_ratio_min=float(total.min()), sum_ratio_median=float(np.median(total)),
                        sum_ratio_max=float(total.max())))
    return out
