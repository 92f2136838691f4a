"""Theorems 1-3 across the (Z, c) plane: margins of one student, of the ansatz, and their verdicts.

For a student (order parameters, M teacher and K = Z M student nodes) and every
k_n = 1..M (c = k_n / K <= 1/Z) this computes the GE of DPP node pruning (exact
k-DPP expectation, three kernels: :func:`zc_kernel`), random node pruning (exact
expectation over all subsets), importance pruning (exact expectation over a
uniform tie-breaking, :func:`importance_distribution`) and random edge pruning
through its expected network (Lemma 6) at c = k_n / K, each without (eps) and
with (epshat) the GE-optimal second layer, or for edges the GE-optimal scale A
(pruning eq 15); then the margin of each theorem part, oriented so that the
theorem claims ``margin >= 0`` and given per unit M v*^2 (sum_n v*_n^2):

====  ============================================  =========================
1a    E_rand[eps] - E_DPP[eps]                      pruning eq 2
1b    E_rand[epshat] - E_DPP[epshat]                pruning eq 2
1c    eps_Imp - E_DPP[eps]                          eq 3, erratum 6 (NOTES.md)
1c_printed  eps_Imp - E_DPP[epshat]                 eq 3 as printed
1d    epshat_Imp - E_DPP[epshat]                    eq 3, erratum 6
2     E_DPP[eps] - eps_Edge(E f)                    Theorem 2 (erratum 11)
3     min_A epshat_Edge(E f) - E_DPP[epshat]        Theorem 3
====  ============================================  =========================

The node-only parts (1a-1d) are also evaluated for k_n = M+1..K where the
C(K, k_n) subsets can be enumerated within a stated budget. Under the ansatz
(A6) the three kernels give one distribution (:func:`ansatz_rows` are the
closed forms of :mod:`tsdyn.pruning.closed_form`; Figure 4's differences for
Theorems 2 and 3). Those closed forms, and so :func:`ansatz_rows`, are erf-only; the rows of
trained students use the exact GE of eqs 5-8 for erf students (the studies' model).
"""
from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations

import numpy as np

from tsdyn.checks import check_choice, check_int
from tsdyn.eg import eg_of
from tsdyn.order_parameters import OrderParameters
from tsdyn.pruning.closed_form import epshat_dpp_node, epshat_random_node, eps_dpp_node, eps_random_node
from tsdyn.pruning.dpp import SubsetDistribution, all_subsets, kdpp_subsets
from tsdyn.pruning.operators import edge_scale, expected_edge_pruned, scaled, subset_eg
from tsdyn.pruning.reweighting import activation_covariance
from tsdyn.pruning.theorems import theorem2_difference, theorem3_difference

ZC_KERNELS = ("Q", "Qcos", "rbf")
THEOREMS = ("1a", "1b", "1c", "1c_printed", "1d", "2", "3")
NODE_ONLY = ("1a", "1b", "1c", "1c_printed", "1d")
LEVELS = ("ansatz", "ode", "sgd", "sgd_800k")
#: DIVNET's bandwidth beta = 10 / n (Mariet & Sra 2016; :func:`tsdyn.pruning.dpp.divnet_kernel`): beta n.
RBF_BETA_N = 10.0
#: Margins above -HOLD_TOL count as holding (the GEs are exact; only round-off remains).
HOLD_TOL = 1e-10
#: |v_i| within this relative distance of the k-th largest count as tied for importance pruning.
TIE_RTOL = 1e-9


# ------------------------------------------------------------------ kernels
def cosine_kernel(Q: np.ndarray) -> np.ndarray:
    """Q_ik / sqrt(Q_ii Q_kk): the DPP kernel with unit diagonal (equal to Q under A6)."""
    d = np.sqrt(np.diag(Q))
    return np.asarray(Q, dtype=float) / np.outer(d, d)


def rbf_kernel(Q: np.ndarray, beta_n: float = RBF_BETA_N) -> np.ndarray:
    """DIVNET's RBF kernel of the post-activations in the limit of many inputs, in closed form.

    DIVNET uses L_ij = exp(-beta ||a_i - a_j||^2) with a_i = (g(lambda_i(x_s)))_{s<=n} and
    beta = beta_n / n. The fields are N(0, Q), so ||a_i - a_j||^2 / n tends to
    E[(g(lambda_i) - g(lambda_j))^2] = I2_ii + I2_jj - 2 I2_ij (I2 of eq B1, the
    post-activation covariance) and L_ij tends to exp(-beta_n (I2_ii + I2_jj - 2 I2_ij)).
    Tested against :func:`tsdyn.pruning.dpp.divnet_kernel` on the weights of a student.
    """
    C = activation_covariance(np.asarray(Q, dtype=float), "post")
    d = np.diag(C)
    return np.exp(-beta_n * np.maximum(d[:, None] + d[None, :] - 2.0 * C, 0.0))


def zc_kernel(kind: str, Q: np.ndarray) -> np.ndarray:
    """The DPP kernel ``kind`` in :data:`ZC_KERNELS` of a student with overlaps Q."""
    check_choice("kernel", kind, ZC_KERNELS)
    return np.array(Q, dtype=float) if kind == "Q" else cosine_kernel(Q) if kind == "Qcos" else rbf_kernel(Q)


# ------------------------------------------------------------- importance
def importance_distribution(v: np.ndarray, k: int, rtol: float = TIE_RTOL) -> SubsetDistribution:
    """Importance pruning (the k largest |v_i|) with ties at the cut broken uniformly at random, exactly.

    Nodes strictly above the k-th largest |v| are kept; the rest are drawn
    uniformly among the nodes tied with it. On a trained student there are no
    ties (one subset); on the ideal ansatz every |v_i| is equal and importance is
    random node pruning, as the paper treats it.
    """
    a = np.abs(np.asarray(v, dtype=float))
    K = a.size
    k = check_int("k", k, low=1, high=K, high_name="K")
    cut = np.sort(a)[::-1][k - 1]
    tied = np.abs(a - cut) <= rtol * max(cut, 1e-300)
    above = np.flatnonzero((a > cut) & ~tied)
    pool = np.flatnonzero(tied)
    picks = [np.sort(np.concatenate([above, c])) for c in combinations(pool, k - above.size)]
    subsets = np.array(picks, dtype=int).reshape(len(picks), k)
    return SubsetDistribution(subsets, np.full(len(picks), 1.0 / len(picks)), K)


# ---------------------------------------------------------------- margins
def node_errors(op: OrderParameters, k: int, kernels=ZC_KERNELS) -> dict:
    """eps and epshat (GE-optimal v) of random, importance and per-kernel DPP node pruning at k_n = k.

    Returns ``{(method, reweighted): value}`` with method ``"random"``, ``"importance"``
    or ``"dpp-<kernel>"``; a kernel of rank < k (its k-DPP does not exist) is left out.
    """
    S = all_subsets(op.K, k)
    eps, epshat = subset_eg(op, S), subset_eg(op, S, "optimal")
    out = {("random", False): float(eps.mean()), ("random", True): float(epshat.mean())}
    imp = importance_distribution(op.v, k)
    out[("importance", False)] = imp.expect(lambda s: subset_eg(op, s))
    out[("importance", True)] = imp.expect(lambda s: subset_eg(op, s, "optimal"))
    for kind in kernels:
        try:
            p = kdpp_subsets(zc_kernel(kind, op.Q), k).probs   # same lexicographic subsets as S
        except ValueError:
            continue
        out[(f"dpp-{kind}", False)], out[(f"dpp-{kind}", True)] = float(p @ eps), float(p @ epshat)
    return out


def edge_errors(op: OrderParameters, c: float) -> tuple[float, float]:
    """GE of the expected random-edge-pruned network (Lemma 6) at keep fraction c, and with the best scale A."""
    expected = expected_edge_pruned(op, c)
    return float(eg_of(expected)), float(eg_of(scaled(expected, edge_scale(expected))))


def margins(node: dict, kernel: str, edge: tuple[float, float] | None) -> dict[str, float | None]:
    """Theorem margins (not yet per M v*^2) from :func:`node_errors` and :func:`edge_errors` for one kernel.

    A part whose errors are missing from ``node`` (epshat beyond the enumeration budget) is None.
    """
    def diff(a, b):
        return node[a] - node[b] if a in node and b in node else None

    dk, dh = (f"dpp-{kernel}", False), (f"dpp-{kernel}", True)
    out = {"1a": diff(("random", False), dk), "1b": diff(("random", True), dh),
           "1c": diff(("importance", False), dk), "1c_printed": diff(("importance", False), dh),
           "1d": diff(("importance", True), dh)}
    if edge is not None:
        out["2"] = node[dk] - edge[0]
        out["3"] = edge[1] - node[dh] if dh in node else None
    return out


def importance_inclusion(v: np.ndarray, k: int, rtol: float = TIE_RTOL) -> tuple[np.ndarray, np.ndarray]:
    """(pi_i, pi_ij) of :func:`importance_distribution` without listing its subsets (ties drawn uniformly)."""
    a = np.abs(np.asarray(v, dtype=float))
    K = a.size
    k = check_int("k", k, low=1, high=K, high_name="K")
    cut = np.sort(a)[::-1][k - 1]
    tied = np.abs(a - cut) <= rtol * max(cut, 1e-300)
    above = (a > cut) & ~tied
    r, p = k - int(above.sum()), int(tied.sum())
    pi = np.where(above, 1.0, np.where(tied, r / p, 0.0))
    pij = np.outer(pi, pi)
    pool = np.flatnonzero(tied)
    pij[np.ix_(pool, pool)] = r * (r - 1) / (p * (p - 1)) if p > 1 else 0.0
    return pi, pij


def exact_node_errors(op: OrderParameters, ks, *, max_subsets: int, kernels=ZC_KERNELS) -> dict[int, dict]:
    """:func:`node_errors` for every k in ``ks`` without Python enumeration (:mod:`tsdyn.pruning.zc_exact`).

    eps of random, importance and each k-DPP from first and second inclusion probabilities (any k);
    epshat of random and each k-DPP by the Numba loop over all C(K, k) subsets where
    C(K, k) <= ``max_subsets``, and of importance where its tie distribution has at most that many
    subsets (one on a trained student); otherwise the epshat entries are left out.
    """
    from tsdyn.pruning.zc_exact import epshat_expectations, expected_eps, kdpp_inclusion, random_inclusion

    ks = list(ks)
    mats = {kind: zc_kernel(kind, op.Q) for kind in kernels}
    incl = {kind: kdpp_inclusion(L, ks) for kind, L in mats.items()}
    out = {}
    for k in ks:
        node = {("random", False): expected_eps(op, *random_inclusion(op.K, k)),
                ("importance", False): expected_eps(op, *importance_inclusion(op.v, k))}
        for kind in kernels:
            if k in incl[kind]:
                node[(f"dpp-{kind}", False)] = expected_eps(op, *incl[kind][k])
        if math.comb(op.K, k) <= max_subsets:
            hat = epshat_expectations(op, k, {kind: mats[kind] for kind in kernels if k in incl[kind]})
            node[("random", True)] = hat.pop("random")
            node.update({(f"dpp-{kind}", True): value for kind, value in hat.items()})
        imp = importance_distribution(op.v, k) if _tie_count(op.v, k) <= max_subsets else None
        if imp is not None:
            node[("importance", True)] = imp.expect(lambda S: subset_eg(op, S, "optimal"))
        out[k] = node
    return out


def _tie_count(v: np.ndarray, k: int, rtol: float = TIE_RTOL) -> int:
    a = np.abs(np.asarray(v, dtype=float))
    cut = np.sort(a)[::-1][k - 1]
    tied = np.abs(a - cut) <= rtol * max(cut, 1e-300)
    return math.comb(int(tied.sum()), k - int(((a > cut) & ~tied).sum()))


def student_rows(op: OrderParameters, *, max_subsets: int, kernels=ZC_KERNELS, kn_max: int | None = None,
                 beyond_M: bool = False) -> list[dict]:
    """Every margin of one student: all theorems at k_n = 1..M; with ``beyond_M`` the node-only ones at k_n = M+1..K.

    Rows ``dict(kn, c, kernel, theorem, margin, holds)``, margins per unit M v*^2, all exact
    (:func:`exact_node_errors`). At k_n > M the parts without reweighting (1a, 1c) are given at every
    k_n; those with epshat (1b, 1c_printed, 1d) where C(K, k_n) <= ``max_subsets``. Nothing beyond ``kn_max``.
    """
    scale = float(np.sum(op.vstar ** 2))
    top = op.K if beyond_M else op.M
    ks = list(range(1, (top if kn_max is None else min(kn_max, top)) + 1))
    within, beyond = [k for k in ks if k <= op.M], [k for k in ks if k > op.M]
    # k_n <= M is always complete (C(20, 5) = 15 504 subsets at most here).
    complete = max([max_subsets] + [math.comb(op.K, k) for k in within])
    errors = exact_node_errors(op, within, max_subsets=complete, kernels=kernels)
    if beyond:
        errors.update(exact_node_errors(op, beyond, max_subsets=max_subsets, kernels=kernels))
    rows = []
    for k in ks:
        node = errors[k]
        edge = edge_errors(op, k / op.K) if k <= op.M else None
        for kind in kernels:
            if (f"dpp-{kind}", False) not in node:
                continue
            for theorem, m in margins(node, kind, edge).items():
                if m is not None:
                    rows.append(_row(k, k / op.K, kind, theorem, m / scale))
    return rows


def ansatz_rows(M: int, Z: int) -> list[dict]:
    """The closed-form margins under A6 at k_n = 1..M, per unit M v*^2, kernel "Q" (all kernels coincide).

    Importance pruning of the ideal student (all |v_i| equal) is random node pruning
    (:func:`importance_distribution`), so 1c = 1a, 1d = 1b and 1c_printed = E_rand[eps] - epshat_DPP.
    Theorems 2 and 3 are Figure 4's ``diff_thm2`` and ``-diff_thm3`` at c = k_n / (Z M).
    """
    M, Z = check_int("M", M, low=1), check_int("Z", Z, low=1)
    rows = []
    for k in range(1, M + 1):
        c = k / (Z * M)
        rand, randh = eps_random_node(k, M, Z, 1.0) / M, epshat_random_node(k, M, Z, 1.0) / M
        d, dh = eps_dpp_node(k, M, Z, 1.0) / M, epshat_dpp_node(k, M, 1.0) / M
        values = {"1a": rand - d, "1b": randh - dh, "1c": rand - d, "1c_printed": rand - dh, "1d": randh - dh,
                  "2": theorem2_difference(c, Z), "3": -theorem3_difference(c, Z)}
        rows += [_row(k, c, "Q", t, float(m)) for t, m in values.items()]
    return rows


def _row(kn: int, c: float, kernel: str, theorem: str, margin: float) -> dict:
    return dict(kn=int(kn), c=float(c), kernel=kernel, theorem=theorem, margin=float(margin),
                holds=bool(margin >= -HOLD_TOL))


# ---------------------------------------------------------------- verdicts
VERDICT_KEYS = ("M", "Z", "K", "kn", "c", "sigma", "level", "kernel", "theorem")


def verdict_fractions(rows: list[dict]) -> list[dict]:
    """Per (M, Z, K, kn, c, sigma, level, kernel, theorem): the fraction of seeds where it holds, with min and mean margin."""
    groups = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in VERDICT_KEYS)].append(r)
    out = []
    for key, rs in groups.items():
        m = np.array([r["margin"] for r in rs])
        out.append(dict(zip(VERDICT_KEYS, key), seeds=len(rs), holds=sum(bool(r["holds"]) for r in rs),
                        fraction=float(np.mean([bool(r["holds"]) for r in rs])), min_margin=float(m.min()),
                        mean_margin=float(m.mean()),
                        sem_margin=float(m.std(ddof=1) / math.sqrt(m.size)) if m.size > 1 else float("nan")))
    return out


TRAINING_KEYS = ("M", "Z", "K", "sigma", "kn", "level", "kernel", "theorem", "t")


def training_summary(rows: list[dict]) -> list[dict]:
    """Margins along training reduced over seeds: per (M, Z, K, sigma, kn, level, kernel, theorem, t) the
    number of seeds, mean margin and its s.e., and the fraction of seeds where it holds (issue 12 part 6).

    The per-seed rows are many (every record time, theorem, kernel and level); the figure and the
    "from which t" table of theorems_zc.md need only these seed statistics, rounded to 6 (mean) and
    3 (s.e.) significant digits to keep the CSV small.
    """
    groups = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in TRAINING_KEYS)].append(r)
    out = []
    for key, rs in groups.items():
        m = np.array([r["margin"] for r in rs], dtype=float)
        sem = m.std(ddof=1) / math.sqrt(m.size) if m.size > 1 else float("nan")
        out.append(dict(zip(TRAINING_KEYS, key), seeds=m.size, mean_margin=float(f"{m.mean():.6g}"),
                        sem_margin=float(f"{sem:.3g}"),
                        fraction=float(np.mean(m >= -HOLD_TOL))))
    return out
