"""Symbolic proofs (sympy) of Lemmas 3 and 4, the corrected Theorem 1 identity and the Theorem 3 minimum,
and the numerical theorem checks of tsdyn.pruning.theorems against them.

The symbolic GEs are assembled term by term from eqs 6-8: each sum over node pairs
is split into classes of equal terms (same block / other block, diagonal / off
diagonal), the arcsin arguments are built from the pruned order parameters, and
sympy simplifies the difference with the paper's closed form to 0.
"""
import numpy as np
import pytest
import sympy as sp

from tsdyn.pruning import closed_form as cf
from tsdyn.pruning.theorems import (FIG4_COLUMNS, check_theorem2, check_theorem3, fig4_table, partitions,
                            theorem1_margins, theorem2_difference, theorem3_difference)

c, Z, M, vs, l, A = sp.symbols("c Z M vstar l A", positive=True)


def arcsin_term(C12, C11, C22):
    """(1/pi) arcsin(C12 / sqrt((1 + C11)(1 + C22))): one term of eqs 6-8 without its weights."""
    return sp.asin(C12 / sp.sqrt((1 + C11) * (1 + C22))) / sp.pi


def test_lemma3_per_block_symbolically():
    # Block with l of its Z nodes kept: Q'_ik = 1 (all l^2 pairs, diagonal included), R'_in = 1, T_nn = 1,
    # v_i = v*/Z. eps = f1 + f2 - f3 restricted to the block.
    v = vs / Z
    f1 = l**2 * v * v * arcsin_term(1, 1, 1)
    f2 = vs * vs * arcsin_term(1, 1, 1)
    f3 = 2 * l * v * vs * arcsin_term(1, 1, 1)
    assert sp.simplify(f1 + f2 - f3 - vs**2 / 6 * (1 - l / Z) ** 2) == 0
    # Other blocks contribute nothing to f1, f3 (Q' = R' = 0 across blocks): arcsin(0) = 0.
    assert arcsin_term(0, 1, 1) == 0


def test_lemma2_follows_from_lemma3_with_one_node_in_each_of_k_blocks():
    k = sp.symbols("k_n", positive=True)
    block = lambda lm: vs**2 / 6 * (1 - lm / Z) ** 2
    eps = k * block(1) + (M - k) * block(0)
    assert sp.simplify(eps - vs**2 * (k / 6 * (1 - 1 / Z) ** 2 + (M - k) / 6)) == 0       # eq 9
    assert sp.simplify((M - k) * block(0) - (M - k) * vs**2 / 6) == 0                      # eq 10


def test_lemma4_symbolically_from_the_lemma6_expected_order_parameters():
    # Expected edge-pruned ideal student: Q'_ii = c, Q'_ik = c^2 (same block, i != k), 0 across blocks,
    # R'_in = c in the block, T = I, v_i = v*/Z, K = Z M.
    v = vs / Z
    K = Z * M
    f1 = v * v * (K * arcsin_term(c, c, c) + M * Z * (Z - 1) * arcsin_term(c**2, c, c))
    f2 = M * vs**2 * arcsin_term(1, 1, 1)
    f3 = 2 * K * v * vs * arcsin_term(c, c, 1)
    eq11 = M * vs**2 / sp.pi * (sp.asin(c / (1 + c)) / Z + (1 - 1 / Z) * sp.asin(c**2 / (1 + c))
                                + sp.pi / 6 - 2 * sp.asin(c / sp.sqrt(2 * (1 + c))))
    assert sp.simplify(f1 + f2 - f3 - eq11) == 0
    # Eq 15 is the same with v -> A v.
    eq15 = M * vs**2 / sp.pi * (A**2 * (sp.asin(c / (1 + c)) / Z + (1 - 1 / Z) * sp.asin(c**2 / (1 + c)))
                                + sp.pi / 6 - 2 * A * sp.asin(c / sp.sqrt(2 * (1 + c))))
    assert sp.simplify(A**2 * f1 + f2 - A * f3 - eq15) == 0


def test_corrected_theorem1_identity_erratum7():
    lhs = (l - 1) + (1 - l / Z) ** 2
    assert sp.expand(lhs - l * (1 - 2 / Z + l / Z**2)) == 0                # the corrected identity
    assert sp.expand(lhs - l * (1 + 1 / Z**2 - 2 / Z)) != 0                # the paper's version is wrong ...
    assert sp.factor(lhs - l * (1 - 1 / Z) ** 2) == l * (l - 1) / Z**2     # ... but the bound holds for l >= 1


def test_theorem3_minimiser_and_minimum():
    a, b = sp.symbols("a b", positive=True)
    eq15 = M * vs**2 / sp.pi * (A**2 * a + sp.pi / 6 - 2 * A * b)
    (A_star,) = sp.solve(sp.diff(eq15, A), A)
    assert sp.simplify(A_star - b / a) == 0
    assert sp.simplify(sp.diff(eq15, A, 2)) == 2 * M * vs**2 * a / sp.pi    # > 0: a minimum
    assert sp.simplify(eq15.subs(A, A_star) - M * vs**2 / sp.pi * (sp.pi / 6 - b**2 / a)) == 0
    # a(c) > 0 for c in (0, 1] and Z >= 1: a = (1/Z) asin(c/(1+c)) + (1 - 1/Z) asin(c^2/(1+c)); the first
    # term is positive, and the second is >= 0 because its argument lies in [0, 1/2] (asin increasing, asin 0 = 0).
    assert sp.asin(c / (1 + c)).is_positive
    for arg in (c / (1 + c), c**2 / (1 + c)):
        assert sp.maximum(arg, c, sp.Interval(0, 1)) == sp.Rational(1, 2)
        assert sp.minimum(arg, c, sp.Interval(0, 1)) == 0 and arg.subs(c, 0) == 0
    # Numerically, the closed forms implement exactly these expressions.
    for cv, Zv in [(0.1, 4), (0.03, 12)]:
        av, bv = (float(x) for x in cf.edge_arcsines(cv, Zv))
        assert cf.optimal_edge_scale(cv, Zv) == pytest.approx(bv / av, rel=1e-14)


def test_theorem2_and_3_differences_equal_the_sympy_expressions():
    eps_dpp = (c * Z) / 6 * (1 - 1 / Z) ** 2 + (1 - c * Z) / 6
    a = sp.asin(c / (1 + c)) / Z + (1 - 1 / Z) * sp.asin(c**2 / (1 + c))
    b = sp.asin(c / sp.sqrt(2 * (1 + c)))
    diff2 = sp.lambdify((c, Z), eps_dpp - (a + sp.pi / 6 - 2 * b) / sp.pi)
    diff3 = sp.lambdify((c, Z), (1 - c * Z) / 6 - (sp.pi / 6 - b**2 / a) / sp.pi)
    for Zv in (4, 9, 30):
        for cv in np.linspace(0.01, 1, 7) / Zv:
            assert theorem2_difference(cv, Zv) == pytest.approx(diff2(cv, Zv), abs=1e-14)
            assert theorem3_difference(cv, Zv) == pytest.approx(diff3(cv, Zv), abs=1e-14)


def test_theorem_checks_hold_on_fig4_grid_and_theorem2_needs_Z_at_least_4():
    thm2, thm3 = check_theorem2(range(4, 31)), check_theorem3(range(4, 31))
    assert thm2.holds and thm3.holds
    assert thm2.min_margin == pytest.approx(0.0, abs=1e-15) and thm2.where["c"] == 0.0
    # The tightest non-trivial point of Theorem 2 is Z = 4 at the largest c = 1/Z.
    assert thm2.where_nontrivial["Z"] == 4 and thm2.where_nontrivial["kn_over_M"] == pytest.approx(1.0)
    assert not check_theorem2([3]).holds and not check_theorem2([2]).holds
    table = fig4_table(range(4, 31), 51)
    assert tuple(table) == FIG4_COLUMNS and table["Z"].size == 27 * 51
    assert np.all(table["diff_thm2"] >= -1e-15) and np.all(table["diff_thm3"] <= 1e-15)


def test_theorem1_margins_hold_and_are_zero_only_where_equality_is_forced():
    margins = theorem1_margins(range(1, 7), range(1, 11))
    assert all(m.holds for m in margins.values())
    assert margins["eq2_eps"].min_margin_nontrivial > 0
    assert margins["eq2_epshat"].min_margin_nontrivial > 0
    # Importance pruning that happens to keep one node per block matches the DPP exactly.
    assert margins["eq3_eps"].min_margin_nontrivial == pytest.approx(0.0, abs=1e-14)
    assert sorted(map(tuple, partitions(4, 3, 2))) == [(2, 1, 1), (2, 2, 0)]


def test_fig4_report_writes_the_table_and_both_figures(tmp_path):
    import csv

    from tsdyn.targets import fig4

    cfg = {"Z_min": 4, "Z_max": 30, "c_values": 51}
    assert fig4.jobs(cfg, quick=True) == []
    paths = fig4.report(cfg, {}, tmp_path)
    assert sorted(p.name for p in paths) == ["fig4.csv", "fig4.pdf", "fig4.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    with open(tmp_path / "fig4.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == "Z,c,kn_over_M,eps_dpp,eps_edge,diff_thm2,epshat_dpp,epshat_edge,A_opt,diff_thm3".split(",")
    assert len(rows) == 1 + 27 * 51
    # Row of Z = 4, j = 50 (c = 1/4): compare with the sympy expressions of eqs 9-11 and 15 at exact c.
    row = dict(zip(rows[0], map(float, rows[1 + 50])))
    assert (row["Z"], row["c"], row["kn_over_M"]) == (4.0, 0.25, 1.0)
    cq, Zq = sp.Rational(1, 4), 4
    a = sp.asin(cq / (1 + cq)) / Zq + (1 - sp.Rational(1, Zq)) * sp.asin(cq**2 / (1 + cq))
    b = sp.asin(cq / sp.sqrt(2 * (1 + cq)))
    expect = {"eps_dpp": sp.Rational(1, 6) * (1 - sp.Rational(1, 4)) ** 2, "eps_edge": (a + sp.pi / 6 - 2 * b) / sp.pi,
              "epshat_dpp": 0, "epshat_edge": (sp.pi / 6 - b**2 / a) / sp.pi, "A_opt": b / a}
    for key, value in expect.items():
        assert row[key] == pytest.approx(float(value), abs=1e-15), key
    assert row["diff_thm2"] == pytest.approx(float(expect["eps_dpp"] - expect["eps_edge"]), abs=1e-15)


def test_theorem1_eq2_margin_in_closed_form():
    # E[l] = k/M, Var[l] = k (1/M)(1 - 1/M)(K - k)/(K - 1) (hypergeometric), K = Z M, so
    # E[eps^Rand] - eps^DPP = v*^2/6 k (k - 1)(Z - 1) / (Z^2 (K - 1)) >= 0, zero iff k <= 1 or Z = 1.
    k = sp.symbols("k_n", positive=True)
    K = Z * M
    mean, var = k / M, k * (1 / M) * (1 - 1 / M) * (K - k) / (K - 1)
    expected_eps = M * vs**2 / 6 * ((1 - mean / Z) ** 2 + var / Z**2)
    eps_dpp = vs**2 * (k / 6 * (1 - 1 / Z) ** 2 + (M - k) / 6)
    margin = vs**2 / 6 * k * (k - 1) * (Z - 1) / (Z**2 * (K - 1))
    assert sp.simplify(expected_eps - eps_dpp - margin) == 0
    for Mv, Zv in [(3, 4), (10, 30), (5, 1)]:
        for kv in range(0, Mv + 1):
            diff = cf.eps_random_node(kv, Mv, Zv, 4.0) - cf.eps_dpp_node(kv, Mv, Zv, 4.0)
            assert diff == pytest.approx(float(margin.subs({vs: 4, k: kv, Z: Zv, M: Mv})), abs=1e-13)
