"""Part 5 of issue 13: does node-pruned SGD retraining converge to its ODE as N grows, from fixed pruned starts?

The criterion (theory/retraining.md, Sec. 4), in the spirit of the fixed-start convergence of
theory/ode_vs_simulation.md: the same pruned starts (order parameters held fixed) are retrained by the
order-parameter engine at several N, each paired with the ODE from its start. Per (N, Delta t) the
mean SGD - ODE difference over the starts, d(N), has standard error s(N). A cell passes if

1. every N is consistent with no gap: |d(N)| <= q s(N), with q the two-sided Student-t quantile
   at a family-wise level ``family_alpha`` split (Bonferroni) over the N of the cell, and
2. the gap does not grow with N: |d(N_max)| - |d(N_min)| <= q sqrt(s(N_min)^2 + s(N_max)^2).

A correct ODE has d(N) = O(1/N) (the finite-N correction) plus noise of order 1/sqrt(N), so it passes
with probability about 1 - family_alpha per cell; an ODE with a bias b fails once s(N_max) << b,
because condition 1 fails at the largest N (tests/test_retrain_convergence.py checks both on synthetic
gaps and on real retraining runs with a wrong ODE, rate x 1.05).
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np


def convergence_rows(diffs: dict, *, family_alpha: float = 0.01) -> list[dict]:
    """Per (cell, N): the mean SGD - ODE difference over the fixed starts, its s.e., z and the limit.

    Parameters
    ----------
    diffs : mapping from (cell, N) to the differences SGD - ODE of each start (>= 2 starts), ``cell``
        a tuple of labels (e.g. (dt,)) shared by the N of one convergence check.
    family_alpha : family-wise level of condition 1 over the N of a cell (Bonferroni).

    Returns
    -------
    list of dict
        ``cell``, ``N``, ``starts``, ``mean_diff``, ``se``, ``z``, ``limit`` (the Student-t quantile
        with starts - 1 degrees of freedom at two-sided level family_alpha / number of N) and
        ``within`` (|z| <= limit), sorted by cell and N.
    """
    from scipy.stats import t as student_t

    if not 0.0 < family_alpha < 1.0:
        raise ValueError(f"family_alpha must lie in (0, 1), got {family_alpha}")
    n_of_cell = defaultdict(int)
    for cell, _ in diffs:
        n_of_cell[cell] += 1
    rows = []
    for (cell, N), d in sorted(diffs.items(), key=lambda kv: (tuple(map(str, kv[0][0])), kv[0][1])):
        d = np.asarray(d, dtype=float)
        if d.size < 2:
            raise ValueError(f"cell {cell} at N = {N} needs >= 2 starts for a standard error, got {d.size}")
        mean, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size))
        limit = float(student_t.ppf(1.0 - family_alpha / (2 * n_of_cell[cell]), d.size - 1))
        z = mean / se if se > 0 else (0.0 if mean == 0 else math.copysign(math.inf, mean))
        rows.append(dict(cell=cell, N=int(N), starts=int(d.size), mean_diff=mean, se=se, z=float(z), limit=limit,
                         within=bool(abs(z) <= limit)))
    return rows


def convergence_verdicts(rows: list[dict]) -> list[dict]:
    """Per cell of :func:`convergence_rows`: conditions 1 and 2 of the module's criterion and ``passes``.

    Returns one dict per cell: ``cell``, ``Ns``, ``all_within`` (condition 1), ``growth`` (|d(N_max)| -
    |d(N_min)|), ``growth_limit`` and ``not_growing`` (condition 2), ``passes`` (both).
    """
    by_cell = defaultdict(list)
    for r in rows:
        by_cell[r["cell"]].append(r)
    out = []
    for cell, rs in by_cell.items():
        rs = sorted(rs, key=lambda r: r["N"])
        if len(rs) < 2:
            raise ValueError(f"cell {cell} needs >= 2 values of N for a convergence check, got {len(rs)}")
        lo, hi = rs[0], rs[-1]
        growth = abs(hi["mean_diff"]) - abs(lo["mean_diff"])
        growth_limit = hi["limit"] * math.hypot(lo["se"], hi["se"])
        all_within = all(r["within"] for r in rs)
        not_growing = bool(growth <= growth_limit)
        out.append(dict(cell=cell, Ns=[r["N"] for r in rs], all_within=all_within, growth=float(growth),
                        growth_limit=float(growth_limit), not_growing=not_growing,
                        passes=bool(all_within and not_growing)))
    return out
