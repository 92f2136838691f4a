"""Tables of the retraining study from its curves: recovery times, rankings, ODE agreement (issue 13).

A *curve* is a dict with the labels of ``figures/retrain.csv`` (M, K, kn, method,
reweight, sigma, seed, draw, level) and ``dt``, ``eg`` arrays. These functions
only group and reduce curves (:mod:`tsdyn.pruning.recovery` holds the measures).
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from tsdyn.pruning.recovery import claims, paired_z, time_to_reach, time_within_final

GROUP = ("M", "K", "kn", "method", "reweight", "sigma", "level")


def curve_rows(curves: list[dict], columns=("M", "K", "kn", "method", "reweight", "sigma", "seed", "draw", "level")):
    """One row per (curve, record time): the columns of figures/retrain.csv."""
    for c in curves:
        for dt, eg in zip(c["dt"], c["eg"]):
            yield {**{k: c[k] for k in columns}, "dt": float(dt), "eg": float(eg)}


def grouped(curves: list[dict], keys=GROUP) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for c in curves:
        out[tuple(c[k] for k in keys)].append(c)
    return dict(out)


def value_at(curve: dict, dt: float) -> float:
    """eps_g of ``curve`` at the record time nearest ``dt``."""
    return float(curve["eg"][int(np.argmin(np.abs(np.asarray(curve["dt"]) - dt)))])


def summary_rows(curves: list[dict], unpruned: dict[tuple, float], exact0: dict[tuple, float],
                 dts) -> list[dict]:
    """Per group (:data:`GROUP`): the mean curve's recovery times and its values at Delta t = 0 and ``dts``.

    ``unpruned[(M, K, sigma, seed)]`` is the trained student's eps_g; t_2x asks for the mean curve
    to come within 2x of its mean over the group's seeds. ``exact0[(M, K, kn, method, reweight,
    sigma, seed)]`` is the exact expectation of eps_g just after pruning (pruning study).
    """
    rows = []
    for key, group in sorted(grouped(curves).items(), key=lambda kv: tuple(map(str, kv[0]))):
        lab = dict(zip(GROUP, key))
        dt = np.asarray(group[0]["dt"])
        mean = np.mean([c["eg"] for c in group], axis=0)
        seeds = sorted({c["seed"] for c in group})
        base = float(np.mean([unpruned[(lab["M"], lab["K"], lab["sigma"], s)] for s in seeds]))
        ex = [exact0.get((lab["M"], lab["K"], lab["kn"], lab["method"], lab["reweight"], lab["sigma"], s))
              for s in seeds]
        row = dict(lab, curves=len(group), seeds=len(seeds), eg_unpruned=base,
                   eg0_exact=float(np.mean(ex)) if all(e is not None for e in ex) else math.nan,
                   rate0=float(np.nanmean([c["rate0"] for c in group])) if any(np.isfinite(c["rate0"]) for c in group)
                   else math.nan,
                   t_within_10pc=time_within_final(dt, mean, tol=0.1), t_within_2x_unpruned=time_to_reach(dt, mean, 2 * base))
        for d in (0.0, *dts):
            row[f"eg_dt{d:g}"] = float(mean[int(np.argmin(np.abs(dt - d)))])
        rows.append(row)
    return rows


def claim_rows(summary: list[dict], dts) -> list[dict]:
    """Theorems 1-3 on the group means of ``summary`` at Delta t = 0 and each of ``dts``, per level."""
    by = defaultdict(dict)
    for r in summary:
        by[(r["M"], r["K"], r["kn"], r["sigma"], r["level"])][(r["method"], r["reweight"])] = r
    rows = []
    for (M, K, kn, sigma, level), found in sorted(by.items()):
        for d in (0.0, *dts):
            means = {mr: r[f"eg_dt{d:g}"] for mr, r in found.items()}
            for c in claims(means, kn, M):
                rows.append(dict(M=M, K=K, kn=kn, sigma=sigma, level=level, dt=d, **c))
    return rows


def agreement_rows(curves: list[dict], dts, *, quantile: float = 0.975) -> list[dict]:
    """Part 5: per (group, seed) with SGD on >= 2 draws, SGD - ODE paired by draw at each of ``dts``.

    ``within`` is |z| <= the Student-t ``quantile`` with draws - 1 degrees of freedom (the "2 s.e."
    of a mean over few draws); a correct ODE leaves about 95 % of the cells within.
    """
    from scipy.stats import t as student_t

    keyed = grouped(curves, GROUP[:-1] + ("seed",))
    rows = []
    for key, group in sorted(keyed.items(), key=lambda kv: tuple(map(str, kv[0]))):
        sgd = {c["draw"]: c for c in group if c["level"] == "sgd"}
        ode = {c["draw"]: c for c in group if c["level"] == "ode"}
        draws = sorted(set(sgd) & set(ode))
        if len(draws) < 2:
            continue
        limit = float(student_t.ppf(quantile, len(draws) - 1))
        for d in dts:
            s = np.array([[value_at(sgd[j], d)] for j in draws])
            o = np.array([[value_at(ode[j], d)] for j in draws])
            mean_diff, z = paired_z(s, o)
            rows.append(dict(zip(GROUP[:-1] + ("seed",), key), dt=float(d), draws=len(draws),
                             eg_ode=float(o.mean()), eg_sgd=float(s.mean()), mean_diff=float(mean_diff[0]),
                             z=float(z[0]), limit=limit, within=bool(abs(z[0]) <= limit)))
    return rows


def best_t0_rows(curves: list[dict], t_total: float, *, z: float = 2.0, resolution: float = 1e-6) -> list[dict]:
    """Part 4: per (method, reweight, sigma, level, t0 label) the mean eps_g at t0 + dt = t_total, and the best t0.

    The lowest mean is the best t0 (``best`` True, ``verdict`` "best") only if it beats every other t0 of
    its group by more than ``z`` standard errors of the difference (independent draws per t0) and by more
    than ``resolution`` relative (the ODE's curves agree to integration accuracy, with s.e. ~ 0; the ODE
    of importance pruning's single subset is exact, s.e. 0);
    otherwise every t0 within that margin of it is marked "tie (within 2 s.e.)", and a mean of one run
    (no s.e.) cannot be told apart from others: "no s.e. (1 run)".
    """
    final, t0s = defaultdict(list), defaultdict(list)
    for c in curves:
        key = (c["method"], c["reweight"], c["sigma"], c["level"], c["t0_label"])
        final[key].append(float(c["eg"][-1]))
        t0s[key].append(float(c["t0"]))
    rows = [dict(method=m, reweight=rw, sigma=s, level=lv, t0_label=lab, t0_mean=float(np.mean(t0s[k])),
                 t_total=t_total, runs=len(v), eg_final=float(np.mean(v)),
                 eg_final_sem=_sem(v, exact=(lv == "ode" and m == "importance")))
            for k, v in sorted(final.items()) for (m, rw, s, lv, lab) in [k]]
    groups = defaultdict(list)
    for r in rows:
        groups[(r["method"], r["reweight"], r["sigma"], r["level"])].append(r)
    for group in groups.values():
        low = min(group, key=lambda r: r["eg_final"])
        for r in group:
            if r is low:
                continue
            gap = r["eg_final"] - low["eg_final"]
            se = math.hypot(low["eg_final_sem"], r["eg_final_sem"])
            if not math.isfinite(se):
                r["verdict"] = "no s.e. (1 run)"
            elif gap <= z * se or gap <= resolution * abs(low["eg_final"]):
                r["verdict"] = "tie (within 2 s.e.)"
            else:
                r["verdict"] = ""
        others = [r["verdict"] for r in group if r is not low]
        low["verdict"] = ("best" if all(v == "" for v in others)
                          else "no s.e. (1 run)" if "no s.e. (1 run)" in others else "tie (within 2 s.e.)")
        for r in group:
            r["best"] = r["verdict"] == "best"
    return rows


def _sem(values: list[float], *, exact: bool) -> float:
    """Standard error of the mean of ``values``; 0 for an ``exact`` value (the ODE of importance pruning's one
    subset: nothing random), NaN for a single random run."""
    if exact:
        return 0.0
    return float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan


def explain_never_within_2x(summary: list[dict], checks: dict[tuple, list[dict]], lrs: dict[tuple, dict]) -> None:
    """Add ``t_2x_note`` to every row of ``summary``: why its mean curve never comes within 2x of the unpruned eps_g.

    ``checks[(M, K, kn, method, reweight, sigma)]``: the slow-rate ODE retrainings of the same starts
    (dicts with seed, eg_final, t2x, lr, dt; :func:`tsdyn.targets.retrain_jobs.node_job`);
    ``lrs[(M, K)]``: dict(lr=the retraining rate, lr_c=the critical rate of the K' = M perfect state, A6).
    A K' >= M row is explained by the rate only if every checked start comes within 2x at the slow rate.
    """
    for r in summary:
        if np.isfinite(r["t_within_2x_unpruned"]):
            r["t_2x_note"] = ""
            continue
        rate = lrs[(r["M"], r["K"])]
        if r["method"] == "random_edge":
            note = ("edge-pruned rows (mask held) cannot represent the dense teacher vectors, so eps_g stays "
                    "above 0 at any rate (theory/retraining.md Sec. 3)")
        elif r["kn"] < r["M"]:
            note = f"K' = {r['kn']} < M = {r['M']}: the pruned student cannot represent the teacher (Sec. 2)"
        else:
            found = checks.get(tuple(r[k] for k in ("M", "K", "kn", "method", "reweight", "sigma")), [])
            if not found:
                note = "K' >= M: not checked at a smaller rate in this configuration"
            elif all(np.isfinite(c["t2x"]) for c in found):
                c = found[0]
                note = (f"K' >= M at lr {rate['lr']:g} > lr_c (K' = M, A6: {rate['lr_c']:.3g}): the perfect state is "
                        f"unstable and eps_g settles at {r[f'eg_dt{_last(r)}']:.3g}; the same start (draw 0, seed "
                        f"{c['seed']}) at lr {c['lr']:g} comes within 2x at dt = {c['t2x']:.3g} (eps_g "
                        f"{c['eg_final']:.3g} at dt = {c['dt']:g})")
            else:
                c = found[0]
                note = (f"K' >= M: not within 2x at lr {c['lr']:g} by dt = {c['dt']:g} either (eps_g {c['eg_final']:.3g}): "
                        "the rate is not shown to be the reason")
        r["t_2x_note"] = note


def _last(row: dict) -> str:
    """The largest Delta t with an ``eg_dt...`` column in ``row``, as written in the column name."""
    return max((k[len("eg_dt"):] for k in row if k.startswith("eg_dt")), key=float)
