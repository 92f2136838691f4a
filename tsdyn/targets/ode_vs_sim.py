"""Sweep target ``ode_vs_sim``: the order-parameter ODEs against online SGD from the same start.

The jobs are the training runs of the paper's setting (shared with fig2a); the
report integrates the ODEs (:func:`tsdyn.dynamics.ode.integrate`, tens of milliseconds)
from each simulation's exact initial Q, R, T, v at the simulation's record times.

Outputs: ``ode_vs_sim.csv`` (seed, sigma, t, eg_sim, eg_ode, rel_diff with
rel_diff = eg_sim / eg_ode - 1) and ``ode_vs_sim.png`` / ``.pdf``: per sigma, a
log-log overlay of eps_g(t) (simulation: markers, ODE: lines) above the
relative difference with the +-20 % band.

Two studies say how far a single run can be expected to follow the ODE:
``ode_vs_sim_ensemble.*`` (is the ODE the mean over independent runs?) and
``ode_vs_sim_replicas.*`` (replicas: runs from one start on other data, so they
differ by their SGD noise alone). Where replicas of one start spread by more
than (1 + tol) / (1 - tol) = 1.5 in eps_g, no deterministic function of the
start, the ODE or any other, is within +-tol of all of them
(theory/ode_vs_simulation.md).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tsdyn.atomic import atomic_open
from tsdyn.dynamics.compare import (COVERABLE_SPREAD, PRE_EXIT_T, TOLERANCE, comparison_rows, ensemble_rows,
                                    ode_from_start, replica_curves, replica_rows, replica_summary, worst_rel_diff)
from tsdyn.outputs import pyplot, save_figure, write_rows
from tsdyn.sweep.job import Job
from tsdyn.targets.students import replica_jobs, replicas, runs
from tsdyn.targets.training import training_jobs

#: Numba kernel groups this target's runs and report use (tsdyn.sweep.warmup compiles them first).
KERNELS = ("ode_erf", "order")

log = logging.getLogger("tsdyn.sweep")


def jobs(cfg: dict, *, quick: bool) -> list[Job]:
    """The training runs (shared with fig2a: same parameters, trained once), the ensemble's, the replicas."""
    replica = [job for sigma in cfg.get("replica_sigmas", []) for job in replica_jobs(cfg, sigma, cfg["replicas"])]
    return training_jobs(cfg) + training_jobs(ensemble_cfg(cfg)) + replica


def ensemble_cfg(cfg: dict) -> dict:
    """The noiseless runs over ``ensemble_seeds`` seeds that test the ODE as the mean of the simulations."""
    return {**cfg, "sigmas": [0.0], "seeds": list(range(int(cfg.get("ensemble_seeds", 0))))}


def rows(cfg: dict, results: dict[str, dict]) -> list[dict]:
    """Per sigma, seed and record time: eps_g of the run and of the ODE from its start."""
    table = []
    for sigma in cfg["sigmas"]:
        for seed, run in zip(cfg["seeds"], runs(cfg, results, sigma)):
            res = ode_from_start(run, lr=cfg["lr"], sigma=sigma)
            if not res["ode_success"]:
                log.warning("ODE run sigma=%g seed=%d stopped early: %s", sigma, seed, res["ode_message"])
            table += comparison_rows(res, sigma=sigma, seed=seed)
    return table


def ensemble(cfg: dict, results: dict[str, dict]) -> list[dict]:
    """:func:`tsdyn.dynamics.compare.ensemble_rows` over the ensemble's runs (none below two seeds)."""
    ecfg = ensemble_cfg(cfg)
    if len(ecfg["seeds"]) < 2:
        return []
    return ensemble_rows([ode_from_start(run, lr=cfg["lr"], sigma=0.0) for run in runs(ecfg, results, 0.0)])


def replica_tables(cfg: dict, results: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """Per sigma and seed of the replicas: the rows of each record time, and one summary row."""
    table, summary = [], []
    for sigma in cfg.get("replica_sigmas", []):
        for seed in cfg["seeds"]:
            curves = replica_curves(replicas(cfg, results, sigma, seed), lr=cfg["lr"], sigma=sigma)
            label = dict(sigma=float(sigma), seed=int(seed))
            table += [{**label, **row} for row in replica_rows(*curves)]
            summary.append({**label, **replica_summary(*curves)})
    return table, summary


def report(cfg: dict, results: dict[str, dict], out: Path) -> list[Path]:
    table = rows(cfg, results)
    paths = [write_rows(table, Path(out) / "ode_vs_sim.csv", ["seed", "sigma", "t", "eg_sim", "eg_ode", "rel_diff"])]
    paths += plot(table, cfg, Path(out) / "ode_vs_sim")
    ens = ensemble(cfg, results)
    if ens:
        paths.append(write_rows(ens, Path(out) / "ode_vs_sim_ensemble.csv"))
        paths += plot_ensemble(ens, cfg, Path(out) / "ode_vs_sim_ensemble")
    replica, summary = replica_tables(cfg, results)
    if replica:
        paths.append(write_rows(replica, Path(out) / "ode_vs_sim_replicas.csv"))
        paths.append(write_rows(summary, Path(out) / "ode_vs_sim_replicas_summary.csv"))
        paths += plot_replicas(replica, cfg, Path(out) / "ode_vs_sim_replicas")
    path = Path(out) / "ode_vs_sim.md"
    with atomic_open(path, "w") as fh:
        fh.write(verdicts(cfg, table, ens, summary))
    return paths + [path]


def verdicts(cfg: dict, table: list[dict], ensemble: list[dict], replicas: list[dict]) -> str:
    """ode_vs_sim.md: each agreement criterion between single runs, their mean and the ODE, with its verdict."""
    lines = ["# The order-parameter ODEs against online SGD", "",
             f"M = {cfg['M']}, K = {cfg['K']}, N = {cfg['N']}, eta = {cfg['lr']:g}, v* = {cfg['vstar']:g}; "
             "the ODE starts from each run's exact initial state. Why single runs leave the band at the plateau "
             "exits: `theory/ode_vs_simulation.md`. Regenerate with `python -m tsdyn.sweep ode_vs_sim`.", "",
             "The criterion the ODE is held to is convergence in N from a fixed start, plateau exits included "
             "(`ode_convergence.md`, target `ode_convergence`). At N = 500 a single run follows the ODE only up to "
             "the first plateau exit; after it the exit jitter (theory/ode_vs_simulation.md, Sec. 1) dominates, "
             "so the worst deviation over all t >= 1 is shown for information, not as a criterion.", "",
             f"## Single runs: |sim / ODE - 1| <= {TOLERANCE:g} before the first exit", "",
             f"| sigma | seed | worst on t in [1, {PRE_EXIT_T:g}] | verdict | worst on t >= 1 (no bound) | at t |",
             "|---|---|---|---|---|---|"]
    for sigma in cfg["sigmas"]:
        for seed in cfg["seeds"]:
            rows_ = [r for r in table if r["sigma"] == sigma and r["seed"] == seed and r["t"] >= 1]
            early, _ = worst_rel_diff([r for r in rows_ if r["t"] <= PRE_EXIT_T])
            late, at = worst_rel_diff(rows_)
            lines.append(f"| {sigma:g} | {seed} | {early:.3f} | {_verdict(early <= TOLERANCE)} | {late:.3f} | "
                         f"{at:g} |")
    if ensemble:
        rows_ = [r for r in ensemble if r["t"] >= 1]
        inside = [r for r in rows_ if abs(r["mean_log_ratio"]) <= 2 * r["se_log_ratio"]]
        far = max(rows_, key=lambda r: abs(r["mean_log_ratio"]) / r["se_log_ratio"])
        exit_rows = [r for r in rows_ if PRE_EXIT_T <= r["t"] <= 5 * PRE_EXIT_T]
        lines += ["", f"## The mean of {rows_[0]['seeds']} runs (sigma = 0): |mean log(sim / ODE)| <= 2 s.e.", "",
                  f"{_verdict(len(inside) == len(rows_))}: at {len(inside)} of {len(rows_)} record times in [1, "
                  f"{rows_[-1]['t']:g}]. Farthest: {far['mean_log_ratio']:+.3f} +- {far['se_log_ratio']:.3f} at "
                  f"t = {far['t']:g}." + _exit_sentence(exit_rows)]
    if replicas:
        lines += ["", "## Replicas: runs from one start on other data", "",
                  f"Where replicas spread by more than {COVERABLE_SPREAD:.3g} no single curve, the ODE included, is "
                  f"within +-{TOLERANCE:g} of all of them.", "",
                  "| sigma | start of seed | replicas | largest spread | at t | one curve can cover them | "
                  "replicas within the band at every t >= 1 |", "|---|---|---|---|---|---|---|"]
        for r in replicas:
            lines.append(f"| {r['sigma']:g} | {r['seed']} | {r['replicas']} | {r['largest_spread']:.3f} | "
                         f"{r['at_t']:g} | {'yes' if r['coverable'] else '**no**'} | {r['replicas_always_within']} |")
    return "\n".join(lines) + "\n"


def _exit_sentence(rows: list[dict]) -> str:
    """Where the ensemble's mean log ratio is lowest across the first exit (nothing if no record time is there)."""
    if not rows:
        return ""
    r = min(rows, key=lambda r: r["mean_log_ratio"])
    return (f" Across the first exit (t in [{PRE_EXIT_T:g}, {5 * PRE_EXIT_T:g}]) the mean is lowest at t = {r['t']:g}: "
            f"{r['mean_log_ratio']:+.3f} +- {r['se_log_ratio']:.3f} (on average the runs leave the plateau "
            f"{'earlier' if r['mean_log_ratio'] < 0 else 'later'} than the ODE).")


def _verdict(ok: bool) -> str:
    return "holds" if ok else "**fails**"


def plot_replicas(table: list[dict], cfg: dict, stem: Path) -> list[Path]:
    """Per sigma (rows) and seed (columns): the replicas' range of eps_g against the ODE's
    +-TOLERANCE band; below each, the replicas' spread max / min."""
    plt = pyplot()
    sigmas = list(dict.fromkeys(r["sigma"] for r in table))
    seeds = list(dict.fromkeys(r["seed"] for r in table))
    fig, axes = plt.subplots(2 * len(sigmas), len(seeds), figsize=(4.3 * len(seeds), 4.6 * len(sigmas)),
                             squeeze=False, sharex=True, gridspec_kw=dict(height_ratios=(3, 1.4) * len(sigmas)),
                             constrained_layout=True)
    for row, sigma in enumerate(sigmas):
        for col, seed in enumerate(seeds):
            sel = [r for r in table if r["sigma"] == sigma and r["seed"] == seed and r["t"] > 0]
            t = np.array([r["t"] for r in sel])
            ode = np.array([r["eg_ode"] for r in sel])
            top, bottom = axes[2 * row][col], axes[2 * row + 1][col]
            top.fill_between(t, (1 - TOLERANCE) * ode, (1 + TOLERANCE) * ode, color="0.85",
                             label=f"ODE $\\pm${TOLERANCE:.0%}")
            top.fill_between(t, [r["eg_min"] for r in sel], [r["eg_max"] for r in sel], color="C0", alpha=0.5,
                             label=f"{sel[0]['replicas']} replicas: min to max")
            top.loglog(t, ode, "k-", lw=1.2, label="ODE")
            top.set_title(f"start of seed {seed}, $\\sigma$ = {sigma:g}", fontsize=10)
            bottom.semilogx(t, [r["spread"] for r in sel], "C3o-", ms=2.5, lw=0.8)
            bottom.axhline(COVERABLE_SPREAD, color="k", ls="--", lw=0.8)
            for ax in (top, bottom):
                ax.grid(alpha=0.3, which="both")
            if col == 0:
                top.set_ylabel(r"$\epsilon_g$ (eqs 5-8, noise-free)")
                bottom.set_ylabel("replicas' max / min")
    for ax in axes[-1]:
        ax.set_xlabel("t = steps / N")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Runs from one start on other data (SGD noise only), M = {cfg['M']}, K = {cfg['K']}, "
                 f"N = {cfg['N']}: above the dashed line ({COVERABLE_SPREAD:.2g}) no single curve "
                 f"is within $\\pm${TOLERANCE:.0%} of every replica", fontsize=10)
    return save_figure(fig, stem)


def plot_ensemble(ensemble: list[dict], cfg: dict, stem: Path) -> list[Path]:
    """Mean log(sim/ODE) +- 2 standard errors over the seeds, beside the largest single-run deviation."""
    plt = pyplot()
    rows_ = [r for r in ensemble if r["t"] > 0]
    t = np.array([r["t"] for r in rows_])
    mean, se = np.array([r["mean_log_ratio"] for r in rows_]), np.array([r["se_log_ratio"] for r in rows_])
    fig, ax = plt.subplots(figsize=(7.5, 4.2), constrained_layout=True)
    ax.fill_between(t, mean - 2 * se, mean + 2 * se, color="C0", alpha=0.25, label=r"mean $\pm$ 2 s.e.")
    ax.semilogx(t, mean, "C0o-", ms=3, label=f"mean of log(sim / ODE) over {rows_[0]['seeds']} seeds")
    ax.semilogx(t, [r["max_abs_rel_diff"] for r in rows_], "C3s:", ms=3, label="largest |sim / ODE - 1| of one run")
    ax.axhspan(-TOLERANCE, TOLERANCE, color="0.9", zorder=0)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xlabel("t = steps / N")
    ax.set_ylabel("simulation against ODE")
    ax.set_title(f"Is the ODE the mean of the simulations? M = {cfg['M']}, K = {cfg['K']}, N = {cfg['N']}, "
                 f"$\\sigma$ = 0 (grey: $\\pm${TOLERANCE:.0%})", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save_figure(fig, stem)


def plot(table: list[dict], cfg: dict, stem: Path) -> list[Path]:
    """Per sigma: eps_g(t) of simulation (markers) and ODE (lines) per seed; below, their relative difference."""
    plt = pyplot()
    sigmas = cfg["sigmas"]
    fig, axes = plt.subplots(2, len(sigmas), figsize=(5.4 * len(sigmas), 6.2), squeeze=False, sharex=True,
                             gridspec_kw=dict(height_ratios=(3, 1.3)), constrained_layout=True)
    for col, sigma in enumerate(sigmas):
        top, bottom = axes[0][col], axes[1][col]
        for i, seed in enumerate(cfg["seeds"]):
            sel = [r for r in table if r["sigma"] == sigma and r["seed"] == seed and r["t"] > 0]
            t = np.array([r["t"] for r in sel])
            colour = f"C{i}"
            top.loglog(t, [r["eg_ode"] for r in sel], "-", color=colour, lw=1.4)
            top.loglog(t, [r["eg_sim"] for r in sel], "o", color=colour, ms=3.5, mfc="none")
            bottom.semilogx(t, [r["rel_diff"] for r in sel], "o-", color=colour, ms=2.5, lw=0.8)
        bottom.axhspan(-TOLERANCE, TOLERANCE, color="0.9", zorder=0)
        bottom.axhline(0, color="0.5", lw=0.8)
        top.set_title(f"$\\sigma$ = {sigma:g}: M = {cfg['M']}, K = {cfg['K']}, N = {cfg['N']}, "
                      f"$\\eta$ = {cfg['lr']:g}, $v^*$ = {cfg['vstar']:g}", fontsize=10)
        top.set_ylabel(r"$\epsilon_g$ (eqs 5-8, noise-free)")
        bottom.set_ylabel("sim / ODE - 1")
        bottom.set_xlabel("t = steps / N")
        for ax in (top, bottom):
            ax.grid(alpha=0.3, which="both")
        top.legend(handles=legend_handles(cfg["seeds"]), fontsize=8)
    fig.suptitle("Order-parameter ODEs vs online SGD from the same initial state "
                 f"(grey band: $\\pm${TOLERANCE:.0%})", fontsize=11)
    return save_figure(fig, stem)


def legend_handles(seeds) -> list:
    """Line = ODE, open marker = simulation (black), one colour per seed."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="k", lw=1.4, label="ODE"),
               Line2D([], [], color="k", marker="o", ls="none", mfc="none", ms=4, label="simulation")]
    return handles + [Line2D([], [], color=f"C{i}", lw=3, label=f"seed {seed}") for i, seed in enumerate(seeds)]
