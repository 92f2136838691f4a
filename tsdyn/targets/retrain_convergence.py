"""Part 5 of the ``retrain`` target (issue 13): the jobs, results and markdown of the convergence-in-N check.

The criterion itself is :mod:`tsdyn.pruning.retrain_convergence`; the jobs are
:func:`tsdyn.targets.retrain_jobs.convergence_job`, one per (method, draw, N) of ``[convergence]``.
"""
from __future__ import annotations

from tsdyn.sweep.job import Job
from tsdyn.targets.retrain_jobs import JOBS
from tsdyn.targets.training import order_cost, training_job


def _name(conv: dict, method: str, draw: int, N: int) -> str:
    """The one name of a convergence run, shared by its job and the report that reads it."""
    return f"retrain-convergence-{conv['student']}-{method}-draw{draw}-N{N}"


def convergence_jobs(cfg: dict, students: dict[str, dict]) -> list[Job]:
    """Part 5: one job per (method, draw, N) of the fixed pruned starts (:mod:`tsdyn.pruning.retrain_convergence`);
    ``students``: the target's training configuration of each student."""
    conv = cfg.get("convergence")
    if not conv:
        return []
    st = students[conv["student"]]
    train = training_job(st, conv["sigma"], conv["seed"])
    out = []
    for method in conv["methods"]:
        for draw in range(conv["draws"]):
            for N in conv["Ns"]:
                steps = max(conv["dts"]) * N
                out.append(Job(_name(conv, method, draw, N),
                               f"{JOBS}:convergence_job",
                               dict(sigma=float(conv["sigma"]), seed=int(conv["seed"]), kn=int(conv["kn"]),
                                    method=method, draws=int(conv["draws"]), draw=draw, N=int(N),
                                    lr=float(st["lr"]), dts=[float(d) for d in conv["dts"]]),
                               cost=order_cost(steps=steps, M=st["M"], K=max(conv["kn"], st["M"])), inputs=(train,)))
    return out


def convergence_results(cfg: dict, results: dict) -> tuple[list[dict], list[dict]]:
    """Part 5: the rows (cell = dt, per N) and verdicts of the convergence check, [] without one."""
    from tsdyn.pruning.retrain_convergence import convergence_rows, convergence_verdicts

    conv = cfg.get("convergence")
    if not conv:
        return [], []
    diffs = {}
    for method in conv["methods"]:
        for draw in range(conv["draws"]):
            for N in conv["Ns"]:
                r = results[_name(conv, method, draw, N)]
                for dt, s, o in zip(r["dt"][1:], r["sgd"][1:], r["ode"][1:]):
                    diffs.setdefault(((float(dt),), int(N)), []).append(float(s - o))
    rows = convergence_rows(diffs, family_alpha=float(conv["family_alpha"]))
    verdicts = convergence_verdicts(rows)
    flat = lambda r: {"dt": r["cell"][0], **{k: v for k, v in r.items() if k != "cell"}}
    return ([flat(r) for r in rows],
            [dict(flat(v), Ns=" ".join(map(str, v["Ns"]))) for v in verdicts])


def convergence_lines(cfg: dict, rows, verdicts) -> list[str]:
    """The criterion of part 5 and its verdict per dt (:mod:`tsdyn.pruning.retrain_convergence`)."""
    conv = cfg.get("convergence")
    if not conv or not rows:
        return ["No convergence check is configured (`[convergence]` of the TOML)."]
    passed = sum(v["passes"] for v in verdicts)
    lines = [f"Criterion (theory/retraining.md Sec. 4): the same {conv['draws'] * len(conv['methods'])} pruned starts "
             f"({'/'.join(conv['methods'])}, k_n = {conv['kn']}, no reweighting, student {conv['student']}, sigma = "
             f"{conv['sigma']:g}, seed {conv['seed']}) are retrained by SGD (order engine) at N = "
             f"{', '.join(map(str, conv['Ns']))} and by the ODE. A dt passes if the mean SGD - ODE gap is within its "
             f"Bonferroni Student-t limit at every N (family level {conv['family_alpha']:g}) and does not grow from "
             f"the smallest to the largest N (beyond the same limit). **{passed} of {len(verdicts)} dt pass.** "
             "A wrong ODE (rate x 1.05) fails it (tests/test_retrain_convergence.py).", "",
             "| dt | N | starts | SGD - ODE | s.e. | z | limit |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dt']:g} | {r['N']} | {r['starts']} | {r['mean_diff']:+.4g} | {r['se']:.2g} | "
                     f"{r['z']:+.2f} | {r['limit']:.2f} |")
    lines += ["", "| dt | every N within | growth of abs(gap) | its limit | passes |", "|---|---|---|---|---|"]
    for v in verdicts:
        lines.append(f"| {v['dt']:g} | {v['all_within']} | {v['growth']:+.3g} | {v['growth_limit']:.3g} | "
                     f"**{v['passes']}** |")
    return lines
