"""Sweep target ``theorems_zc``: Theorems 1-3 on converged students across the (Z, c) plane, three DPP kernels.

Per student setting (M, Z = K/M), label noise sigma and seed, one job
(:func:`study`) trains with the order-parameter engine in segments until the
specialisation rule of :mod:`tsdyn.dynamics.specialise` holds (at least to the
paper's 800 000 samples, t = 1600 at N = 500; capped), integrates the ODE from
the same start to the same t, and evaluates every theorem margin
(:mod:`tsdyn.pruning.zc`) at four levels: ``ansatz`` (closed form), ``ode``,
``sgd`` (the converged student) and ``sgd_800k``; and how far each student is
from A6 (:mod:`tsdyn.pruning.zc_departures`), a stall's fixed point
(:mod:`tsdyn.dynamics.stalls`), and for the ``along`` settings the margins
along training. The report writes ``theorems_zc.csv`` (one row per margin),
``theorems_zc_verdicts.csv``, ``theorems_zc_students.csv``, ``theorems_zc_runs.csv``,
``theorems_zc_training.csv``, ``theorems_zc.md`` and the figures
``theorems_zc_margins``, ``theorems_zc_verdicts``, ``theorems_zc_theorem1``, ``theorems_zc_training``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tsdyn.atomic import atomic_open
from tsdyn.dynamics.plateau import first_passage
from tsdyn.outputs import THEOREM_SECTIONS, write_rows
from tsdyn.pruning.zc import ansatz_rows, training_summary, verdict_fractions
from tsdyn.pruning.zc_markdown import markdown, theorems_section
from tsdyn.pruning.zc_report import plot_margins, plot_theorem1, plot_training, plot_verdicts
from tsdyn.seeds import SEGMENT_DATA_SEED_BASE
from tsdyn.sweep.job import Job
from tsdyn.targets.training import order_cost, stream_version

#: Numba kernel groups this target's runs and report use (tsdyn.sweep.warmup compiles them first).
KERNELS = ("ode_erf", "order", "zc_exact")

COLUMNS = ("M", "Z", "K", "kn", "c", "sigma", "level", "seed", "kernel", "theorem", "margin", "holds")
TABLES = ("m", "d", "a", "s")
#: Relaxation inside the symmetric manifold before Newton (tsdyn.dynamics.plateau.find_plateau; default 200):
#: 30 gives the same plateau eps_g to 1e-14 at M = 2, 5 and K = 4..20 in 40-80 % of the CPU time.
PLATEAU_T_RELAX = 30.0


def settings(cfg: dict) -> list[tuple[int, int]]:
    """(M, Z) of every student setting of the configuration."""
    return [(int(s["M"]), int(z)) for s in cfg["students"] for z in s["Z"]]


def jobs(cfg: dict, *, quick: bool = False) -> list[Job]:
    """One job per (M, Z, sigma, seed): train until specialised, the ODE, the margins."""
    out = []
    for M, Z in settings(cfg):
        along = M == cfg["along_M"] and Z in cfg["along_Z"]
        for sigma in cfg["sigmas"]:
            for seed in cfg["seeds"]:
                params = dict(N=int(cfg["N"]), M=M, K=M * Z, lr=float(cfg["lr"]), vstar=float(cfg["vstar"]),
                              sigma=float(sigma), seed=int(seed), t_first=float(cfg["t_first"]),
                              t_paper=float(cfg["t_paper"]), t_cap=float(cfg["t_cap"]),
                              per_decade=int(cfg["per_decade"]), cos_min=float(cfg["cos_min"]),
                              v_min=float(cfg["v_min"]), max_subsets=int(cfg["max_subsets"]), along=bool(along),
                              with_ode=bool(along or M * Z <= cfg["ode_K_max"]),
                              ode_method=str(cfg["ode_method"]), ode_rtol=float(cfg["ode_rtol"]),
                              stream=stream_version("order"))
                out.append(Job(f"zc-M{M}-K{M * Z}-sigma{float(sigma):g}-seed{int(seed)}",
                               "tsdyn.targets.theorems_zc:study", params,
                               cost=order_cost(steps=int(cfg["t_cap"] * cfg["N"]), M=M, K=M * Z)))
            out.append(Job(f"zc-plateau-M{M}-K{M * Z}-sigma{float(sigma):g}", "tsdyn.targets.theorems_zc:plateau",
                           dict(M=M, K=M * Z, lr=float(cfg["lr"]), vstar=float(cfg["vstar"]), sigma=float(sigma)),
                           cost=1.0))
    return out


def plateau(*, M: int, K: int, lr: float, vstar: float, sigma: float) -> dict:
    """eps_g of the symmetric plateau of one setting (what a stall is compared with)."""
    from tsdyn.dynamics.stalls import plateau_eg

    return dict(eg=plateau_eg(np.eye(M), np.full(M, vstar), K, lr=lr, sigma=sigma, t_relax=PLATEAU_T_RELAX))


def study(*, N: int, M: int, K: int, lr: float, vstar: float, sigma: float, seed: int, t_first: float,
          t_paper: float, t_cap: float, per_decade: int, cos_min: float, v_min: float, max_subsets: int,
          along: bool, ode_method: str, ode_rtol: float, stream: str, with_ode: bool = True) -> dict:
    """Train until specialised (order engine, segments), the ODE to the same t, every margin; flat arrays.

    ``with_ode`` False skips the ODE (the default sweep's budget: its cost grows like K^4, see
    ``ode_K_max`` in sims/theorems_zc.toml); its level and columns are then absent or NaN.
    """
    from tsdyn.dynamics.ode import integrate
    from tsdyn.dynamics.specialise import checkpoints, first_specialised, train_until_specialised
    from tsdyn.dynamics.stalls import stall_summary
    from tsdyn.pruning.zc import student_rows
    from tsdyn.pruning.zc_departures import departures
    from tsdyn.simulate import simulate
    from tsdyn.trajectory import record_grid

    if stream != stream_version("order"):
        raise ValueError(f"stream must be the order engine's {stream_version('order')!r}, got {stream!r}")
    with_ode = with_ode or along           # the margins along training need the ODE trajectory

    def segment(state, t_from, times, index):
        # Each segment draws from its own data seed: a continuation must not replay the first segment's noise.
        common = dict(N=N, lr=lr, sigma=sigma, steps=int(round(times[-1] * N)), times=times, engine="order")
        if index == 0:
            return simulate(M=M, K=K, vstar=vstar, seed=seed, **common)
        return simulate(start=state, seed=seed, data_seed=SEGMENT_DATA_SEED_BASE + 64 * seed + index, **common)

    grid = checkpoints(t_first, t_cap)
    thresholds = dict(cos_min=cos_min, v_min=v_min)
    record = record_grid(t_cap, per_decade=per_decade, tmin=0.1, N=N)
    run = train_until_specialised(segment, None, grid=grid, t_min=t_paper, record_times=record, **thresholds)
    sgd = run.trajectory
    i_stop, i_paper = run.index_at(run.t_stop), run.index_at(t_paper)
    at_grid = [run.index_at(t) for t in grid if t <= sgd.times[-1]]
    levels = {"sgd": sgd.at(i_stop), "sgd_800k": sgd.at(i_paper)}
    ode, ode_t_spec, ode_eg = None, float("nan"), np.full(sgd.times.size, np.nan)
    if with_ode:
        ode = integrate(sgd.initial, lr=lr, sigma=sigma, times=sgd.times, method=ode_method, rtol=ode_rtol)
        if not ode.success:
            raise RuntimeError(f"ODE from the start of seed {seed} failed: {ode.message}")
        ode_t_spec = first_specialised(sgd.times[at_grid], [ode.at(i) for i in at_grid], **thresholds)
        levels["ode"], ode_eg = ode.at(i_stop), ode.eg
    tables = {t: [] for t in TABLES}
    rows_of, departures_of = {}, {}
    for level, op in levels.items():
        # The node-only comparisons beyond k_n = M for the converged student only (epshat within max_subsets).
        # sgd_800k is the sgd state itself when the run stopped at t_paper (most runs at the default cap): reused.
        same = level == "sgd_800k" and i_paper == i_stop
        rows = ([r for r in rows_of["sgd"] if r["kn"] <= M] if same else
                student_rows(op, max_subsets=max_subsets, beyond_M=level == "sgd"))
        rows_of[level], departures_of[level] = rows, departures_of["sgd"] if same else departures(op)
        tables["m"] += [dict(level=level, **r) for r in rows]
        tables["d"].append(dict(level=level, t=float(sgd.times[i_stop if level != "sgd_800k" else i_paper]),
                                eg=float(sgd.eg[i_stop] if level == "sgd" else ode_eg[i_stop] if level == "ode"
                                         else sgd.eg[i_paper]), **departures_of[level]))
    if not run.met:
        tables["s"].append(dict(level="sgd", t=run.t_stop, **stall_summary(levels["sgd"], lr=lr, sigma=sigma)))
    if with_ode and np.isnan(ode_t_spec):
        tables["s"].append(dict(level="ode", t=run.t_stop, **stall_summary(levels["ode"], lr=lr, sigma=sigma)))
    if along:
        for i in np.flatnonzero(sgd.times >= 1.0):
            for level, traj in (("sgd", sgd), ("ode", ode)):
                tables["a"] += [dict(t=float(sgd.times[i]), level=level, **r)
                                for r in student_rows(traj.at(int(i)), max_subsets=0, kn_max=M) if r["kn"] in (1, M)]
    out = {f"{t}__{k}": np.array([r[k] for r in rows]) for t, rows in tables.items()
           for k in dict.fromkeys(k for r in rows for k in r)}
    out.update(t_stop=run.t_stop, met=bool(run.met), ode_t_specialised=ode_t_spec, t_end=float(sgd.times[-1]),
               checkpoints=run.checkpoints, aligned=run.aligned, min_cosine=run.min_cosine,
               times=sgd.times, sgd_eg=sgd.eg, ode_eg=ode_eg, with_ode=bool(with_ode))
    return out


def _table(result: dict, table: str) -> list[dict]:
    cols = {k.split("__", 1)[1]: np.atleast_1d(v).tolist() for k, v in result.items() if k.startswith(f"{table}__")}
    return [dict(zip(cols, values)) for values in zip(*cols.values())]


def report(cfg: dict, results: dict[str, dict], out: Path) -> list[Path]:
    out = Path(out)
    rows, students, runs, training, stalls = [], [], [], [], []
    for M, Z in settings(cfg):
        for sigma in cfg["sigmas"]:
            rows += [dict(M=M, Z=Z, K=M * Z, sigma=float(sigma), level="ansatz", seed="", **r) for r in ansatz_rows(M, Z)]
            for seed in cfg["seeds"]:
                res = results[f"zc-M{M}-K{M * Z}-sigma{float(sigma):g}-seed{int(seed)}"]
                key = dict(M=M, Z=Z, K=M * Z, sigma=float(sigma), seed=int(seed))
                rows += [dict(key, **r) for r in _table(res, "m")]
                students += [dict(key, t_stop=res["t_stop"], met=res["met"], **r) for r in _table(res, "d")]
                p_eg = results[f"zc-plateau-M{M}-K{M * Z}-sigma{float(sigma):g}"]["eg"]
                stalls += [dict(key, plateau_eg=p_eg, **r) for r in _table(res, "s")]
                training += [dict(key, **r) for r in _table(res, "a")]
                # Plateau exit (as ode_convergence): eps_g first below half the symmetric plateau's.
                exits = {f"{lv}t_exit": first_passage(res["times"], res[f"{lv or 'sgd_'}eg"], 0.5 * p_eg, after=0.1)
                         if np.isfinite(p_eg) else float("nan") for lv in ("", "ode_")}
                runs.append(dict(key, t_stop=res["t_stop"], met=res["met"], t_end=res["t_end"], **exits,
                                 ode_t_specialised=res["ode_t_specialised"],
                                 eg_stop=float(res["sgd_eg"][np.argmin(np.abs(res["times"] - res["t_stop"]))]),
                                 ode_eg_stop=float(res["ode_eg"][np.argmin(np.abs(res["times"] - res["t_stop"]))]),
                                 eg_800k=float(res["sgd_eg"][np.argmin(np.abs(res["times"] - cfg["t_paper"]))]),
                                 checkpoints=" ".join(f"{t:g}" for t in np.atleast_1d(res["checkpoints"])),
                                 aligned=" ".join(str(int(a)) for a in np.atleast_1d(res["aligned"]))))
    rows = [{k: r[k] for k in COLUMNS} for r in rows]
    verdicts = verdict_fractions(rows)
    training = training_summary(training)        # seed statistics: the per-seed rows ran to 5.6 MB
    stem = f"theorems_zc{cfg.get('label', '')}"      # the full study writes beside the default one: *_full.*
    paths = [write_rows(rows, out / f"{stem}.csv", COLUMNS),
             write_rows(verdicts, out / f"{stem}_verdicts.csv"),
             write_rows(students, out / f"{stem}_students.csv"),
             write_rows(runs, out / f"{stem}_runs.csv"),
             write_rows(stalls, out / f"{stem}_stalls.csv"),
             write_rows(training, out / f"{stem}_training.csv")]
    sigma = float(cfg["sigmas"][0])               # the figures show the first sigma (the CSVs hold every one)
    paths += plot_margins(verdicts, out / f"{stem}_margins", sigma=sigma)
    paths += plot_verdicts(verdicts, out / f"{stem}_verdicts")
    paths += plot_theorem1(verdicts, out / f"{stem}_theorem1", sigma=sigma)
    if training:
        paths += plot_training(training, runs, out / f"{stem}_training", sigma=sigma)
    path = out / f"{stem}.md"
    with atomic_open(path, "w") as fh:
        fh.write(markdown(verdicts, runs, students, stalls, training, cfg, eta=_csv_rows(out, "theorems_zc_eta.csv"),
                          rule=_csv_rows(out, "theorems_zc_rule_summary.csv")))
    paths.append(path)
    if not cfg.get("label"):            # the default study's section of theorems.md (assemble_theorems joins them)
        section = out / THEOREM_SECTIONS / "20_theorems_zc.md"
        section.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(section, "w") as fh:
            fh.write(theorems_section(verdicts, students, cfg, path.name))
        paths.append(section)
    return paths


def _csv_rows(out: Path, name: str) -> list[dict] | None:
    """Rows of a tool's CSV in the out folder (tools/zc_eta_check.py, tools/zc_rule_check.py), if it is there.

    The sweep runs the report in a staging folder inside the out folder (tsdyn.sweep.reports), so that is looked in too.
    """
    import csv

    from tsdyn.sweep.reports import STAGING_PREFIX

    out = Path(out)
    folders = [out] + ([out.parent] if out.name.startswith(STAGING_PREFIX) else [])
    path = next((f / name for f in folders if (f / name).exists()), None)
    if path is None:
        return None
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))
