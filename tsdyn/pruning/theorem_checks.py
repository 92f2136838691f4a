"""Theorems 1-3 of the pruning paper checked as tables: closed-form margins and trained students.

Closed form (the ideal ansatz A6): the margins of :mod:`tsdyn.pruning.theorems`
over grids of Z, c and M. Trained students: every pruning of
:func:`tsdyn.pruning.study.pruning_table` (DPP and random node as exact
expectations, importance, random edge as its Lemma-6 expected network and as the
mean over real masks), turned into the margin of each theorem part (pruning eqs 2
and 3, Theorems 2 and 3), beside how far the student is from the ansatz.
Every margin is oriented so that the theorem claims ``margin >= 0``.
"""
from __future__ import annotations

from tsdyn.pruning.blocks import ansatz_deviation, assign_blocks
from tsdyn.pruning.study import TrainedStudent, pruning_table
from tsdyn.pruning.theorems import check_theorem2, check_theorem3, theorem1_margins

#: Simulated margins above -SIM_TOL count as "holds" (exact GEs: only round-off remains).
SIM_TOL = 1e-10

STATEMENTS = {
    "T1 eq2 eps": "E_rand[eps] - E_DPP[eps] >= 0",
    "T1 eq2 epshat": "E_rand[epshat] - E_DPP[epshat] >= 0",
    "T1 eq3 eps": "eps_Imp - E_DPP[eps] >= 0 (erratum 6)",
    "T1 eq3 epshat": "epshat_Imp - E_DPP[epshat] >= 0 (erratum 6)",
    "T2": "E_DPP[eps] - eps_RandEdge(E f) >= 0",
    "T2 masks": "E_DPP[eps] - mean_masks eps_RandEdge(f) >= 0 (expected GE over masks, erratum 11)",
    "T3": "min_A epshat_RandEdge(E f) - E_DPP[epshat] >= 0",
    "T3 masks": "mean_masks min_A epshat_RandEdge(f) - E_DPP[epshat] >= 0",
}


def closed_form_rows(*, Z_min: int, Z_max: int, c_values: int, M_max: int) -> list[dict]:
    """Closed-form margins of every theorem: Theorem 1 over M = 1..M_max, Z = 1..Z_max; Theorems 2
    and 3 over Z = Z_min..Z_max and ``c_values`` values of c in [0, 1/Z]."""
    Z = range(int(Z_min), int(Z_max) + 1)
    margins = list(theorem1_margins(range(1, int(M_max) + 1), range(1, int(Z_max) + 1)).values())
    margins += [check_theorem2(Z, int(c_values)), check_theorem3(Z, int(c_values))]
    return [dict(source="closed form", setting="ideal ansatz (A6)", check=m.statement, margin=m.min_margin,
                 where=_where(m.where), margin_nontrivial=m.min_margin_nontrivial,
                 where_nontrivial=_where(m.where_nontrivial), holds=m.holds) for m in margins]


def simulation_rows(setting: str, students: list[TrainedStudent], *, M: int, K: int, edge_masks: int,
                    edge_seed: int) -> list[dict]:
    """Margins of every theorem part that applies to ``students`` (M teacher, K student nodes), k_n = 1..M.

    Theorems 2 and 3 assume Z = K / M >= 4 and c = k_n / K <= 1 / Z; below Z = 4 only
    Theorem 1 is checked (and no edge pruning is computed).
    """
    Z = K / M
    table = pruning_table(students, range(1, M + 1), **(dict(edge_masks=edge_masks, edge_seed=edge_seed)
                                                         if Z >= 4 else {}))
    value = {(r["sigma"], r["seed"], r["method"], r["reweight"], r["kn"]): r for r in table}
    rows = []
    for student in students:
        dev = ansatz_deviation(student.params)
        sizes = " ".join(map(str, assign_blocks(student.params).sizes.tolist()))
        for k_n in range(1, M + 1):
            def eps(method, reweight, key="eps"):
                return value[(student.sigma, student.seed, method, reweight, k_n)][key]

            checks = {
                "T1 eq2 eps": eps("random", "none") - eps("dpp", "none"),
                "T1 eq2 epshat": eps("random", "optimal") - eps("dpp", "optimal"),
                "T1 eq3 eps": eps("importance", "none") - eps("dpp", "none"),
                "T1 eq3 epshat": eps("importance", "optimal") - eps("dpp", "optimal"),
            }
            if Z >= 4:
                checks["T2"] = eps("dpp", "none") - eps("edge", "none", "eps_expected_network")
                checks["T2 masks"] = eps("dpp", "none") - eps("edge", "none")
                checks["T3"] = eps("edge", "optimal", "eps_expected_network") - eps("dpp", "optimal")
                checks["T3 masks"] = eps("edge", "optimal") - eps("dpp", "optimal")
            for check, margin in checks.items():
                rows.append(dict(source="simulation", setting=setting, sigma=student.sigma, seed=student.seed,
                                 kn=k_n, check=f"{check}: {STATEMENTS[check]}", margin=float(margin),
                                 holds=bool(margin >= -SIM_TOL), group_sizes=sizes,
                                 **{f"ansatz_{k}": v for k, v in dev.as_dict().items()}))
    return rows


def why(r: dict) -> str:
    """The ansatz assumptions the student of a failing simulation row breaks, in words."""
    reasons = []
    sizes = [int(s) for s in r["group_sizes"].split()]
    if len(set(sizes)) > 1:
        reasons.append(f"its blocks are unequal (sizes {sizes}), so Z differs per teacher node")
    if r["ansatz_norm"] > 0.2:
        reasons.append(f"node norms differ from the teacher's by up to {r['ansatz_norm']:.0%}")
    if r["ansatz_v_share"] > 0.2:
        reasons.append(f"second-layer weights are not v*/Z (off by up to {r['ansatz_v_share']:.0%}), "
                       "so importance pruning is not uniform over nodes")
    if r["ansatz_Q_pattern"] > 0.2:
        reasons.append(f"nodes of one block are not aligned (normalised Q off the block pattern by {r['ansatz_Q_pattern']:.2f})")
    if r["sigma"] > 0:
        reasons.append("the labels are noisy, outside assumption (A7)")
    if not reasons:
        reasons.append("the student is close to the ansatz; the margin is within the finite-N corrections")
    return "The student breaks the ansatz: " + "; ".join(reasons) + "."


def _where(d: dict) -> str:
    return ", ".join(f"{k}={v:.6g}" for k, v in d.items())
