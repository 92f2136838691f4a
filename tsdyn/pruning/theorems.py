"""Theorems 1-3 of the pruning paper evaluated from the closed forms, with their margins.

Each check returns a :class:`Margin`: the smallest value of the quantity the
theorem claims to be non-negative, where it occurs, and the same over the
non-trivial part of the domain (the theorems are equalities at c = 0, at
k_n <= 1 or at Z = 1). Statements follow the errata of NOTES.md: pruning eq 3 is
eps^Imp >= eps^DPP and epshat^Imp >= epshat^DPP (erratum 6); Theorem 2 compares
with the GE of the expected edge-pruned network (erratum 11); Fig 4A is
non-negative and Fig 4B non-positive (erratum 2).

Every margin here comes from the closed forms of :mod:`tsdyn.pruning.closed_form`, which hold
for g = erf(x/sqrt 2) only (the ansatz's arcsines are erf's kernel); for ReLU or linear students
only the exact GEs (:func:`tsdyn.pruning.operators.subset_eg` with ``activation=``) apply.

GEs of Theorems 2 and 3 are per unit M v*^2 (both sides are proportional to M
at fixed k_n/M = cZ); those of Theorem 1 per unit v*^2.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tsdyn.checks import check_int
from tsdyn.pruning.closed_form import (eps_dpp_node, eps_random_edge, eps_random_node, epshat_dpp_node,
                               epshat_random_edge, epshat_random_node, lemma3_eps, lemma3_epshat,
                               optimal_edge_scale)

#: Margins above -TOL count as "holds" (round-off of the closed forms is ~1e-16).
TOL = 1e-12
FIG4_COLUMNS = ("Z", "c", "kn_over_M", "eps_dpp", "eps_edge", "diff_thm2",
                "epshat_dpp", "epshat_edge", "A_opt", "diff_thm3")


@dataclass(frozen=True)
class Margin:
    """Outcome of a theorem check.

    Attributes
    ----------
    statement : the inequality, written as ``quantity >= 0``.
    min_margin : smallest value of the quantity over the whole grid.
    where : grid point of ``min_margin`` (parameter name -> value).
    min_margin_nontrivial : smallest margin / scale over the grid points where equality is not
        automatic; for Theorems 2 and 3 scale = k_n/M = cZ (the margin per unit kept fraction,
        which stays finite as c -> 0), for Theorem 1 scale = 1.
    where_nontrivial : grid point of ``min_margin_nontrivial``.
    holds : ``min_margin >= -TOL``.
    """

    statement: str
    min_margin: float
    where: dict
    min_margin_nontrivial: float
    where_nontrivial: dict
    holds: bool = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "holds", bool(self.min_margin >= -TOL))

    def line(self) -> str:
        fmt = lambda d: ", ".join(f"{k} = {v:.6g}" for k, v in d.items())
        return (f"{self.statement}: {'holds' if self.holds else 'FAILS'}; min {self.min_margin:.6g} at {fmt(self.where)}; "
                f"non-trivial min {self.min_margin_nontrivial:.6g} at {fmt(self.where_nontrivial)}")


def _argmin_margin(statement: str, margin: np.ndarray, axes: dict, nontrivial: np.ndarray,
                   scale: np.ndarray | float = 1.0) -> Margin:
    # axes: name -> array broadcastable to margin.shape, giving each grid point's coordinates.
    coords = {k: np.broadcast_to(v, margin.shape) for k, v in axes.items()}
    valid = np.isfinite(margin)
    i = np.unravel_index(np.argmin(np.where(valid, margin, np.inf)), margin.shape)
    mask = valid & nontrivial
    relative = np.divide(margin, scale, out=np.full(margin.shape, np.inf), where=mask)
    j = np.unravel_index(np.argmin(relative), margin.shape) if mask.any() else i
    return Margin(statement, float(margin[i]), {k: float(v[i]) for k, v in coords.items()},
                  float(relative[j]) if mask.any() else float("nan"), {k: float(v[j]) for k, v in coords.items()})


# ------------------------------------------------------- Theorems 2 and 3
def c_grid(Z, n_c: int) -> np.ndarray:
    """c = j / ((n_c - 1) Z), j = 0..n_c-1: n_c values spanning [0, 1/Z]; shape Z.shape + (n_c,)."""
    n_c = check_int("n_c", n_c, low=2)
    return np.arange(n_c) / ((n_c - 1) * np.asarray(Z, dtype=float)[..., None])


def theorem2_difference(c, Z) -> np.ndarray:
    """eps^DPP_{k_n} - eps^RandEdge_c(E f) per unit M v*^2, k_n/M = cZ (pruning eq 4, Fig 4A; claimed >= 0)."""
    return eps_dpp_node(np.asarray(c) * np.asarray(Z), 1, Z, 1.0) - eps_random_edge(c, Z, 1, 1.0)


def theorem3_difference(c, Z) -> np.ndarray:
    """epshat^DPP_{k_n} - min_A epshat^RandEdge_c(E f) per unit M v*^2 (pruning eq 13, Fig 4B; claimed <= 0)."""
    return epshat_dpp_node(np.asarray(c) * np.asarray(Z), 1, 1.0) - epshat_random_edge(c, Z, 1, 1.0)


def fig4_table(Z_values, n_c: int) -> dict[str, np.ndarray]:
    """Columns :data:`FIG4_COLUMNS` over Z_values x n_c values of c in [0, 1/Z], GEs per unit M v*^2.

    Rows are Z-major (all c of the first Z, then the next Z).
    """
    Z = np.asarray([check_int("Z", z, low=1) for z in np.atleast_1d(Z_values)], dtype=float)
    c = c_grid(Z, n_c)
    Zg = np.broadcast_to(Z[:, None], c.shape)
    cols = dict(Z=Zg, c=c, kn_over_M=c * Zg,
                eps_dpp=eps_dpp_node(c * Zg, 1, Zg, 1.0), eps_edge=eps_random_edge(c, Zg, 1, 1.0),
                epshat_dpp=epshat_dpp_node(c * Zg, 1, 1.0), epshat_edge=epshat_random_edge(c, Zg, 1, 1.0),
                A_opt=optimal_edge_scale(c, Zg))
    cols["diff_thm2"] = cols["eps_dpp"] - cols["eps_edge"]
    cols["diff_thm3"] = cols["epshat_dpp"] - cols["epshat_edge"]
    return {k: np.ravel(cols[k]) for k in FIG4_COLUMNS}


def check_theorem2(Z_values, n_c: int = 501) -> Margin:
    """Theorem 2 over Z_values x n_c values of c in [0, 1/Z]: margin eps^DPP - eps^Edge(E f)."""
    Z = np.asarray(Z_values, dtype=float)[:, None]
    c = c_grid(Z[:, 0], n_c)
    return _argmin_margin("Thm 2: eps_DPP(k_n) - eps_RandEdge(E f) >= 0", theorem2_difference(c, Z),
                          {"Z": Z, "c": c, "kn_over_M": c * Z}, c > 0, c * Z)


def check_theorem3(Z_values, n_c: int = 501) -> Margin:
    """Theorem 3 over Z_values x n_c values of c in [0, 1/Z]: margin min_A epshat^Edge - epshat^DPP."""
    Z = np.asarray(Z_values, dtype=float)[:, None]
    c = c_grid(Z[:, 0], n_c)
    return _argmin_margin("Thm 3: min_A epshat_RandEdge(E f) - epshat_DPP(k_n) >= 0", -theorem3_difference(c, Z),
                          {"Z": Z, "c": c, "kn_over_M": c * Z}, c > 0, c * Z)


# -------------------------------------------------------------- Theorem 1
def partitions(k: int, parts: int, largest: int) -> np.ndarray:
    """Every partition of k into at most ``parts`` parts each <= ``largest``, padded with zeros.

    These are the block-count vectors (l_1..l_M) up to block order (Lemma 3 is
    symmetric in the blocks); shape (count, parts), rows sorted decreasingly.
    """
    out: list[list[int]] = []

    def grow(prefix: list[int], rest: int, cap: int) -> None:
        if rest == 0:
            out.append(prefix + [0] * (parts - len(prefix)))
            return
        if len(prefix) == parts:
            return
        for first in range(min(rest, cap), 0, -1):
            grow(prefix + [first], rest - first, first)

    grow([], check_int("k", k, low=0), check_int("largest", largest, low=0))
    return np.array(out, dtype=int).reshape(-1, parts)


def theorem1_margins(M_values, Z_values) -> dict[str, Margin]:
    """Theorem 1 (pruning eqs 2 and corrected 3) over M x Z x k_n = 1..M, per unit v*^2.

    ``"eq2_eps"``: E_rand[eps] - eps^DPP; ``"eq2_epshat"``: E_rand[epshat] - epshat^DPP
    (exact hypergeometric expectations); ``"eq3_eps"`` / ``"eq3_epshat"``: the smallest
    eps(l) - eps^DPP (epshat likewise) over every block-count vector l that node
    pruning can leave (Lemma 3). On the ideal student all |v_i| are equal, so this
    covers importance pruning under every tie-breaking rule (erratum 6).
    Non-trivial points: k_n >= 2 and Z >= 2 (else every subset is DPP-like).
    """
    M_values = [check_int("M", m, low=1) for m in np.atleast_1d(M_values)]
    Z = np.asarray([check_int("Z", z, low=1) for z in np.atleast_1d(Z_values)], dtype=float)
    rows = {name: [] for name in ("eq2_eps", "eq2_epshat", "eq3_eps", "eq3_epshat")}
    coords = {"M": [], "Z": [], "k_n": []}
    for M in M_values:
        for k in range(1, M + 1):
            eps_dpp, epshat_dpp = eps_dpp_node(k, M, Z, 1.0), epshat_dpp_node(k, M, 1.0)
            rows["eq2_eps"].append(eps_random_node(k, M, Z, 1.0) - eps_dpp)
            rows["eq2_epshat"].append(epshat_random_node(k, M, Z, 1.0) - epshat_dpp)
            l = partitions(k, M, k)
            fits = l.max(axis=1)[None, :] <= Z[:, None]       # (Z, partitions): l_m <= Z
            l_capped = np.minimum(l[None, :, :], Z[:, None, None])
            eps_l = np.where(fits, lemma3_eps(l_capped, Z[:, None], 1.0), np.inf)
            epshat_l = np.where(fits, lemma3_epshat(l[None, :, :], 1.0), np.inf)
            rows["eq3_eps"].append(eps_l.min(axis=1) - eps_dpp)
            rows["eq3_epshat"].append(epshat_l.min(axis=1) - epshat_dpp)
            coords["M"].append(np.full(Z.size, M, dtype=float))
            coords["Z"].append(Z)
            coords["k_n"].append(np.full(Z.size, k, dtype=float))
    axes = {k: np.concatenate(v) for k, v in coords.items()}
    nontrivial = (axes["k_n"] >= 2) & (axes["Z"] >= 2)
    statements = {"eq2_eps": "Thm 1 eq 2: E_rand[eps] - eps_DPP >= 0",
                  "eq2_epshat": "Thm 1 eq 2: E_rand[epshat] - epshat_DPP >= 0",
                  "eq3_eps": "Thm 1 eq 3 (erratum 6): eps_Imp - eps_DPP >= 0",
                  "eq3_epshat": "Thm 1 eq 3 (erratum 6): epshat_Imp - epshat_DPP >= 0"}
    return {name: _argmin_margin(statements[name], np.concatenate(vals), axes, nontrivial)
            for name, vals in rows.items()}
