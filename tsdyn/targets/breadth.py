"""Sweep target ``breadth``: ReLU and linear students beside erf ones, and 1/t annealing with label noise.

Two studies of issue 16 (part 5), every run from the one start of ``seed`` (drawn at
N = ``start_N``), every run a cached job:

* **Activations** (``[activations]``): for each activation pair, the ODE
  (:func:`tsdyn.dynamics.ode.integrate`) against the order-parameter engine at each
  N of ``Ns``, ``replicas`` runs each on other data; per run the worst
  |eps_sim / eps_ODE - 1| on t in [1, t_final], and the median of the replicas.
* **Annealing** (``[annealing]``): with label noise sigma > 0, a constant rate and the
  1/t schedule eta_0 / (1 + t / tau), ODE (to ``ode_t_final``) and SGD (order engine at
  N, to ``t_final``); the fitted late-time slope of log eps_g against log t
  (:func:`tsdyn.dynamics.annealing.loglog_slope`; expected -1 when annealed, 0 at a
  constant rate) and, for the constant rates ``noise_lrs``, the floor eps_g / (eta sigma^2)
  (Saad & Solla, NIPS 9, 1997: the asymptotic phase with output noise; Goldt et al. 2019, Sec. 3).

Outputs: ``breadth_activations.csv`` (one row per run), ``breadth_activations_summary.csv``,
``breadth_annealing.csv`` (fitted slopes and floors), ``breadth_curves.csv``
(eps_g(t) of every curve drawn), ``breadth.md`` and the figures ``breadth_activations.*``,
``breadth_annealing.*``. Why: theory/breadth.md.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tsdyn.atomic import atomic_open
from tsdyn.conventions import activation_label
from tsdyn.dynamics.annealing import late_level, loglog_slope
from tsdyn.dynamics.convergence import worst_deviation
from tsdyn.dynamics.schedules import Schedule
from tsdyn.outputs import pyplot, save_figure, write_rows
from tsdyn.sweep.job import Job
from tsdyn.targets.students import replica_data_seeds, run
from tsdyn.targets.training import breadth_params, training_job, training_name
from tsdyn.trajectory import record_grid

#: Numba kernel groups this target's runs and report use (tsdyn.sweep.warmup compiles them first).
KERNELS = ("ode_erf", "ode_general", "order", "order_general", "sgd")

#: The window of the activations study starts here (as ode_convergence's: the first steps are O(1/N) apart).
T_MIN = 1.0


# ------------------------------------------------------------------ jobs
def ode_run(*, M: int, K: int, vstar: float, seed: int, start_N: int, lr: float, sigma: float, times: list[float],
            **breadth) -> dict:
    """The ODE from the start of ``seed`` drawn at ``start_N`` (the start of the training jobs), at ``times``."""
    from tsdyn.dynamics.ode import integrate
    from tsdyn.simulate import simulate

    start = simulate(N=start_N, M=M, K=K, vstar=vstar, steps=0, seed=seed).initial
    return integrate(start, lr=lr, sigma=sigma, times=times, **breadth).to_arrays()


def _activation_cfg(cfg: dict, activation: str, N: int) -> dict:
    a = cfg["activations"]
    return dict(M=cfg["M"], K=a["K"], N=int(N), lr=a["lr"], vstar=cfg["vstar"], steps=int(round(a["t_final"] * N)),
                per_decade=cfg["per_decade"], engine="order", start_N=cfg["start_N"], activation=activation)


def _annealing_cfg(cfg: dict, schedule: str) -> dict:
    a = cfg["annealing"]
    out = dict(M=cfg["M"], K=a["K"], N=a["N"], lr=a["lr"], vstar=cfg["vstar"], steps=int(round(a["t_final"] * a["N"])),
               per_decade=cfg["per_decade"], engine="order", start_N=cfg["start_N"], lr_schedule=schedule)
    out.update({k: a[k] for k in ("activation", "weight_decay", "batch") if a.get(k) is not None})
    if a.get("lr2_schedule") is not None and schedule != "constant":
        out["lr2_schedule"] = a["lr2_schedule"]
    return out


def _schedules(cfg: dict) -> list[str]:
    return ["constant", Schedule.parse(cfg["annealing"]["lr_schedule"]).label()]


def sgd_times(run_cfg: dict) -> np.ndarray:
    """The record times of a training job of ``run_cfg`` (the engines' grid: whole steps, t = 0 and the end added)."""
    from tsdyn.dynamics.run import RunSettings, record_steps

    settings = RunSettings.validated(N=run_cfg["N"], M=run_cfg["M"], K=run_cfg["K"], steps=run_cfg["steps"],
                                     per_decade=run_cfg["per_decade"])
    return record_steps(None, settings) / run_cfg["N"]


def _ode_job(cfg: dict, name: str, run_cfg: dict, sigma: float, times: np.ndarray) -> Job:
    params = dict(M=int(cfg["M"]), K=int(run_cfg["K"]), vstar=float(cfg["vstar"]), seed=int(cfg["seed"]),
                  start_N=int(cfg["start_N"]), lr=float(run_cfg["lr"]), sigma=float(sigma),
                  times=[float(t) for t in np.unique(times)], **breadth_params(run_cfg))
    return Job(name, "tsdyn.targets.breadth:ode_run", params, cost=float(len(params["times"])) * 1e3)


def _activation_ode_name(activation: str) -> str:
    return "ode-breadth-" + activation_label(activation).replace("/", "_")


def _annealing_ode_name(schedule: str, lr: float) -> str:
    return f"ode-breadth-anneal-{schedule.replace(':', '')}-lr{lr:g}"


def _annealing_ode_times(cfg: dict) -> np.ndarray:
    a = cfg["annealing"]
    dense = record_grid(a["ode_t_final"], per_decade=cfg["per_decade"])
    return np.union1d(dense, sgd_times(_annealing_cfg(cfg, "constant")))


def jobs(cfg: dict, *, quick: bool = False) -> list[Job]:
    """Every SGD replica and every ODE run of both studies."""
    seed, act, ann = cfg["seed"], cfg["activations"], cfg["annealing"]
    data_seeds = replica_data_seeds(seed, cfg["replicas"])
    out = []
    for activation in act["activations"]:
        runs = [_activation_cfg(cfg, activation, N) for N in act["Ns"]]
        out += [training_job(r, act["sigma"], seed, d) for r in runs for d in data_seeds]
        times = np.concatenate([sgd_times(r) for r in runs])
        out.append(_ode_job(cfg, _activation_ode_name(activation), runs[0], act["sigma"], times))
    for schedule in _schedules(cfg):
        run_cfg = _annealing_cfg(cfg, schedule)
        out += [training_job(run_cfg, ann["sigma"], seed, d) for d in data_seeds]
        out.append(_ode_job(cfg, _annealing_ode_name(schedule, ann["lr"]), run_cfg, ann["sigma"],
                            _annealing_ode_times(cfg)))
    for lr in ann["noise_lrs"]:
        if lr != ann["lr"]:
            run_cfg = {**_annealing_cfg(cfg, "constant"), "lr": lr}
            out.append(_ode_job(cfg, _annealing_ode_name("constant", lr), run_cfg, ann["sigma"],
                                _annealing_ode_times(cfg)))
    return _unique(out)


def _unique(jobs_: list[Job]) -> list[Job]:
    """The jobs, each name once; two different runs under one name (training names omit lr and t) are an error."""
    seen: dict[str, Job] = {}
    for job in jobs_:
        other = seen.setdefault(job.name, job)
        if other.key() != job.key():
            raise ValueError(f"breadth: two different runs are both named {job.name!r}; give the studies other "
                             "sigmas, K or N (annealing.sigma must differ from activations.sigma at equal K and N)")
    return list(seen.values())


# ------------------------------------------------------------------ report
def _median_curve(trajs) -> np.ndarray:
    return np.median(np.stack([t.eg for t in trajs]), axis=0)


def activation_rows(cfg: dict, results: dict) -> tuple[list[dict], list[dict], list[dict]]:
    """Per run its worst deviation from the ODE; per (activation, N) the median; the median eps_g(t) curves."""
    act, seed = cfg["activations"], cfg["seed"]
    rows, summary, curves = [], [], []
    for activation in act["activations"]:
        label = activation_label(activation)
        ode = run(results, _activation_ode_name(activation))
        for N in act["Ns"]:
            run_cfg = _activation_cfg(cfg, activation, N)
            trajs = [run(results, training_name(run_cfg, act["sigma"], seed, d))
                     for d in replica_data_seeds(seed, cfg["replicas"])]
            ode_eg = np.interp(trajs[0].times, ode.times, ode.eg)   # the ODE holds every SGD record time
            worst = [worst_deviation(t.times, t.eg, ode_eg, tmin=T_MIN) for t in trajs]
            rows += [dict(activation=label, N=int(N), replica=i, worst=w, ode_success=ode.success)
                     for i, w in enumerate(worst)]
            median = _median_curve(trajs)
            summary.append(dict(activation=label, N=int(N), replicas=len(trajs), median_worst=float(np.median(worst)),
                                max_worst=float(np.max(worst)),
                                median_curve_worst=worst_deviation(trajs[0].times, median, ode_eg, tmin=T_MIN),
                                eg_final_sgd=float(median[-1]), eg_final_ode=float(ode_eg[-1])))
            curves += [dict(study="activations", curve=f"{label} SGD N={N}", t=float(t), eg=float(e))
                       for t, e in zip(trajs[0].times, median) if t > 0]
        curves += [dict(study="activations", curve=f"{label} ODE", t=float(t), eg=float(e))
                   for t, e in zip(ode.times, ode.eg) if t > 0]
    return rows, summary, curves


def annealing_rows(cfg: dict, results: dict) -> tuple[list[dict], list[dict]]:
    """Fitted late-time slopes (ODE and SGD median) per schedule, floors of the constant rates, and the curves."""
    ann, seed = cfg["annealing"], cfg["seed"]
    sigma = float(ann["sigma"])
    rows, curves = [], []
    for schedule in _schedules(cfg):
        ode = run(results, _annealing_ode_name(schedule, ann["lr"]))
        run_cfg = _annealing_cfg(cfg, schedule)
        trajs = [run(results, training_name(run_cfg, sigma, seed, d)) for d in replica_data_seeds(seed, cfg["replicas"])]
        median = _median_curve(trajs)
        for source, times, eg, (lo, hi) in (("ODE", ode.times, ode.eg, ann["ode_fit_range"]),
                                           (f"SGD N={ann['N']} (median of {len(trajs)})", trajs[0].times, median,
                                            ann["fit_range"])):
            fit = loglog_slope(times, eg, lo, hi)
            rows.append(dict(kind="slope", schedule=schedule, source=source, lr=float(ann["lr"]), sigma=sigma,
                             t_low=float(lo), t_high=float(hi), slope=fit.slope, slope_se=fit.slope_se,
                             eg_at_t_high=float(np.interp(hi, times, eg)),
                             floor=late_level(times, eg, lo, hi) if schedule == "constant" else float("nan")))
        curves += [dict(study="annealing", curve=f"{schedule} ODE", t=float(t), eg=float(e))
                   for t, e in zip(ode.times, ode.eg) if t > 0]
        curves += [dict(study="annealing", curve=f"{schedule} SGD N={ann['N']}", t=float(t), eg=float(e))
                   for t, e in zip(trajs[0].times, median) if t > 0]
    lo, hi = ann["ode_fit_range"]
    for lr in sorted(set(ann["noise_lrs"]) | {ann["lr"]}):
        ode = run(results, _annealing_ode_name("constant", lr))
        floor = late_level(ode.times, ode.eg, lo, hi)
        rows.append(dict(kind="floor", schedule="constant", source="ODE", lr=float(lr), sigma=sigma, t_low=float(lo),
                         t_high=float(hi), floor=floor, floor_over_lr_sigma2=floor / (lr * sigma ** 2)))
    return rows, curves


def report(cfg: dict, results: dict[str, dict], out: Path) -> list[Path]:
    out = Path(out)
    label = cfg.get("label", "")
    rows, summary, act_curves = activation_rows(cfg, results)
    ann_rows, ann_curves = annealing_rows(cfg, results)
    tables = {"breadth_activations": rows, "breadth_activations_summary": summary, "breadth_annealing": ann_rows,
              "breadth_curves": act_curves + ann_curves}
    paths = [write_rows(table, out / f"{name}{label}.csv") for name, table in tables.items()]
    paths += plot_activations(cfg, act_curves, out / f"breadth_activations{label}")
    paths += plot_annealing(cfg, ann_curves, ann_rows, out / f"breadth_annealing{label}")
    path = out / f"breadth{label}.md"
    with atomic_open(path, "w") as fh:
        fh.write(markdown(cfg, summary, ann_rows))
    return paths + [path]


def markdown(cfg: dict, summary: list[dict], ann_rows: list[dict]) -> str:
    act, ann = cfg["activations"], cfg["annealing"]
    lines = ["# Model breadth: activations against their ODE, and 1/t annealing with label noise", "",
             f"M = {cfg['M']}, v* = {cfg['vstar']:g}; one start (seed {cfg['seed']}, drawn at N = {cfg['start_N']}); "
             f"order-parameter engine, {cfg['replicas']} replicas per setting. Regenerate with "
             "`python -m tsdyn.sweep breadth`. Why: `theory/breadth.md`.", "",
             "## Activations", "",
             f"K = {act['K']}, eta = {act['lr']:g}, sigma = {act['sigma']:g}, to t = {act['t_final']:g}. Per run "
             f"w = max over record times t in [{T_MIN:g}, {act['t_final']:g}] of |eps_sim / eps_ODE - 1|; "
             "`median curve` is w of the replicas' median eps_g(t)."
             + (f" t = {act['t_final']:g} is the window of the agreement criterion (issue 16 part 4); the ReLU ODE "
                "costs about 1 ms per right-hand side, so longer ReLU runs (t = 1600: about 4-6 s, "
                "`python benchmarks/bench_relu_ode.py`) are left out of the default sweep's budget."
                if "relu" in {x for a in act["activations"] for x in activation_label(a).split("/")} else ""), "",
             "| activation | N | median w | max w | w of the median curve | final eps_g SGD | final eps_g ODE |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {s['activation']} | {s['N']} | {s['median_worst']:.4f} | {s['max_worst']:.4f} | "
              f"{s['median_curve_worst']:.4f} | {s['eg_final_sgd']:.4g} | {s['eg_final_ode']:.4g} |" for s in summary]
    tau = Schedule.parse(ann["lr_schedule"]).tau
    options = breadth_params(_annealing_cfg(cfg, ann["lr_schedule"]))
    options.pop("lr_schedule", None)
    extra = ", ".join(f"{k} = {v}" for k, v in options.items()) or "erf, no decay, B = 1"
    lines += ["", "## Annealing with label noise (Saad & Solla)", "",
              f"{extra}; K = {ann['K']}, sigma = {ann['sigma']:g}, eta_0 = {ann['lr']:g}; constant "
              f"rate against eta(t) = eta_0 / (1 + t / {tau:g}). SGD: N = {ann['N']}, to t = {ann['t_final']:g} "
              f"(median of the replicas); ODE to t = {ann['ode_t_final']:g}. Slope: least squares of log eps_g "
              "on log t over the stated window (expected: -1 annealed, 0 at a constant rate).", "",
              "| schedule | source | t window | slope (s.e.) | eps_g at window end |", "|---|---|---|---|---|"]
    lines += [f"| {r['schedule']} | {r['source']} | [{r['t_low']:g}, {r['t_high']:g}] | {r['slope']:.3f} "
              f"({r['slope_se']:.3f}) | {r['eg_at_t_high']:.4g} |" for r in ann_rows if r["kind"] == "slope"]
    lines += ["", "Constant-rate floor (ODE, mean eps_g over the ODE window): proportional to eta sigma^2 for "
              "small eta.", "", "| eta | floor eps_g | floor / (eta sigma^2) |", "|---|---|---|"]
    lines += [f"| {r['lr']:g} | {r['floor']:.4g} | {r['floor_over_lr_sigma2']:.4f} |" for r in ann_rows
              if r["kind"] == "floor"]
    return "\n".join(lines) + "\n"


def plot_activations(cfg: dict, curves: list[dict], stem: Path) -> list[Path]:
    """One panel per activation: the ODE (line) and the replicas' median SGD eps_g(t) per N (points)."""
    plt = pyplot()
    labels = [activation_label(a) for a in cfg["activations"]["activations"]]
    fig, axes = plt.subplots(1, len(labels), figsize=(4.2 * len(labels), 3.8), constrained_layout=True, squeeze=False)
    for ax, label in zip(axes[0], labels):
        for k, N in enumerate(cfg["activations"]["Ns"]):
            sel = [c for c in curves if c["curve"] == f"{label} SGD N={N}"]
            ax.loglog([c["t"] for c in sel], [c["eg"] for c in sel], "o", ms=3, mfc="none", color=f"C{k}",
                      label=f"SGD, N = {N}")
        sel = [c for c in curves if c["curve"] == f"{label} ODE"]
        ax.loglog([c["t"] for c in sel], [c["eg"] for c in sel], "k-", lw=1.2, label="ODE")
        ax.set(xlabel="t = steps / N", ylabel=r"$\epsilon_g$", title=f"{label} teacher and student")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    return save_figure(fig, stem)


def plot_annealing(cfg: dict, curves: list[dict], rows: list[dict], stem: Path) -> list[Path]:
    """eps_g(t) at a constant rate and under 1/t annealing (ODE lines, SGD points), with a 1/t guide."""
    plt = pyplot()
    ann = cfg["annealing"]
    fig, ax = plt.subplots(figsize=(6, 4.4), constrained_layout=True)
    for k, schedule in enumerate(_schedules(cfg)):
        ode = [c for c in curves if c["curve"] == f"{schedule} ODE"]
        sgd = [c for c in curves if c["curve"] == f"{schedule} SGD N={ann['N']}"]
        fit = next(r for r in rows if r["kind"] == "slope" and r["schedule"] == schedule and r["source"] == "ODE")
        ax.loglog([c["t"] for c in ode], [c["eg"] for c in ode], "-", color=f"C{k}", lw=1.3,
                  label=f"{schedule}: ODE (slope {fit['slope']:.2f} on [{fit['t_low']:g}, {fit['t_high']:g}])")
        ax.loglog([c["t"] for c in sgd], [c["eg"] for c in sgd], "o", ms=2.5, mfc="none", color=f"C{k}",
                  label=f"{schedule}: SGD N = {ann['N']}")
    lo, hi = ann["ode_fit_range"]
    ref = next(r for r in rows if r["kind"] == "slope" and r["schedule"] != "constant" and r["source"] == "ODE")
    t = np.geomspace(lo, hi, 10)
    ax.loglog(t, ref["eg_at_t_high"] * hi / t * 0.5, "k:", lw=1, label=r"$\propto 1/t$")
    ax.set(xlabel="t = steps / N", ylabel=r"$\epsilon_g$",
           title=f"label noise $\\sigma$ = {ann['sigma']:g}, $\\eta_0$ = {ann['lr']:g}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return save_figure(fig, stem)
