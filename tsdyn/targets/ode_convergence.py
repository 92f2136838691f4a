"""Sweep target ``ode_convergence``: finite-N SGD converges to the ODE from a fixed start; the plateau-exit law.

Two studies with the order-parameter engine (cost independent of N):

* **Convergence from a fixed start.** The initial states of ``starts`` (drawn at
  N = ``start_N``) are run at every N of ``Ns``, ``replicas`` runs each on other
  data, to ``t_final``; the ODE runs from the same start. Per replica, the worst
  |eps_sim / eps_ODE - 1| on t in [1, t_final]; the criterion
  (:class:`tsdyn.dynamics.convergence.ConvergenceCriterion`) asks the median to fall
  like N^-1/2 and to be small at the largest N.
* **The plateau exit.** ``exit_starts`` random starts drawn at each N of ``exit_Ns``;
  t_exit is the first time eps_g falls below ``exit_fraction`` times the plateau's
  eps_g. Theory (:mod:`tsdyn.dynamics.plateau`): mean t_exit = ln N / (2 mu) + const.

Outputs: ``ode_convergence.csv`` (one row per run), ``ode_convergence_summary.csv``,
``ode_convergence_curves.csv``, ``plateau_exit.csv``, ``plateau_exit_summary.csv``,
``ode_convergence.md`` (the verdicts) and the figures ``ode_convergence.*``,
``plateau_exit.*``. Why: theory/ode_vs_simulation.md, Sec. 4-5.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tsdyn.atomic import atomic_open
from tsdyn.dynamics.convergence import ConvergenceCriterion, exit_summary, worst_deviation
from tsdyn.dynamics.ode import integrate
from tsdyn.dynamics.plateau import find_plateau, first_passage
from tsdyn.outputs import pyplot, save_figure, write_rows
from tsdyn.sweep.job import Job
from tsdyn.targets.students import replica_data_seeds, run
from tsdyn.targets.training import training_job, training_name

#: Numba kernel groups this target's runs and report use (tsdyn.sweep.warmup compiles them first).
KERNELS = ("ode_erf", "order", "sgd")


def _fixed_start_cfg(cfg: dict, N: int) -> dict:
    return {**cfg, "N": int(N), "steps": int(round(cfg["t_final"] * N)), "engine": "order",
            "start_N": int(cfg["start_N"])}


def _exit_cfg(cfg: dict, N: int) -> dict:
    return {**cfg, "N": int(N), "steps": int(round(cfg["exit_t_final"] * N)), "engine": "order",
            "per_decade": int(cfg["exit_per_decade"]), "start_N": None}   # random starts drawn at N itself


def jobs(cfg: dict, *, quick: bool = False) -> list[Job]:
    """Every fixed-start replica and every random start of the exit study."""
    out = [training_job(_fixed_start_cfg(cfg, N), sigma, start, data_seed)
           for start in cfg["starts"] for sigma in cfg["sigmas"] for N in cfg["Ns"]
           for data_seed in replica_data_seeds(start, cfg["replicas"])]
    out += [training_job(_exit_cfg(cfg, N), sigma, seed)
            for sigma in cfg["exit_sigmas"] for N in cfg["exit_Ns"] for seed in range(cfg["exit_starts"])]
    return out


def report(cfg: dict, results: dict[str, dict], out: Path) -> list[Path]:
    out = Path(out)
    label = cfg.get("label", "")            # the full study writes beside the default one: *_full.*
    rows, curves = convergence_rows(cfg, results)
    criterion = ConvergenceCriterion(tuple(cfg["slope_range"]), cfg["final_median"], cfg["final_max"], cfg["final_N"])
    summary = [dict(start=start, sigma=sigma, **criterion.judge(
        [r["N"] for r in rows if r["start"] == start and r["sigma"] == sigma],
        [r["worst"] for r in rows if r["start"] == start and r["sigma"] == sigma]))
        for start in cfg["starts"] for sigma in cfg["sigmas"]]
    exits, exit_rows = exit_study(cfg, results)
    tables = {"ode_convergence": rows, "ode_convergence_summary": summary, "ode_convergence_curves": curves,
              "plateau_exit": exit_rows, "plateau_exit_summary": _flat_exits(exits)}
    paths = [write_rows(table, out / f"{name}{label}.csv") for name, table in tables.items()]
    paths += plot_convergence(cfg, rows, curves, out / f"ode_convergence{label}")
    paths += plot_exit(cfg, exit_rows, exits, out / f"plateau_exit{label}")
    path = out / f"ode_convergence{label}.md"
    with atomic_open(path, "w") as fh:
        fh.write(verdicts(cfg, criterion, summary, exits))
    return paths + [path]


def convergence_rows(cfg: dict, results: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """One row per replica run (its worst deviation from the ODE), and the eps_g(t) curves of the panel."""
    rows, curves = [], []
    panel_Ns = set(_panel_Ns(cfg["Ns"]))
    for start in cfg["starts"]:
        for sigma in cfg["sigmas"]:
            for N in cfg["Ns"]:
                runs = [run(results, training_name(_fixed_start_cfg(cfg, N), sigma, start, d))
                        for d in replica_data_seeds(start, cfg["replicas"])]
                ode = integrate(runs[0].initial, lr=cfg["lr"], sigma=sigma, times=runs[0].times)
                for replica, traj in enumerate(runs):
                    window = traj.times >= 1.0
                    worst = worst_deviation(traj.times, traj.eg, ode.eg, tmin=1.0)
                    at = traj.times[window][np.argmax(np.abs(traj.eg[window] / ode.eg[window] - 1))]
                    rows.append(dict(start=start, sigma=float(sigma), N=int(N), replica=replica,
                                     worst=worst, at_t=float(at), ode_success=ode.success))
                if start == cfg["starts"][0] and N in panel_Ns:
                    curves += [dict(start=start, sigma=float(sigma), N=int(N), t=float(t), eg_sim=float(e),
                                    eg_ode=float(o)) for t, e, o in zip(runs[0].times, runs[0].eg, ode.eg)]
    return rows, curves


def _panel_Ns(Ns) -> list[int]:
    Ns = sorted(int(n) for n in Ns)
    return sorted({Ns[0], Ns[len(Ns) // 2], Ns[-1]})


def exit_study(cfg: dict, results: dict[str, dict]) -> tuple[dict, list[dict]]:
    """Per sigma: the plateau (fixed point, mu) and each run's exit time; the fitted law against theory."""
    exits, rows = {}, []
    for sigma in cfg["exit_sigmas"]:
        plateau = find_plateau(np.eye(cfg["M"]), np.full(cfg["M"], cfg["vstar"]), cfg["K"], lr=cfg["lr"], sigma=sigma)
        level = cfg["exit_fraction"] * plateau.eg
        for N in cfg["exit_Ns"]:
            for seed in range(cfg["exit_starts"]):
                traj = run(results, training_name(_exit_cfg(cfg, N), sigma, seed))
                rows.append(dict(sigma=float(sigma), N=int(N), seed=seed,
                                 t_exit=first_passage(traj.times, traj.eg, level, after=1.0)))
        mine = [r for r in rows if r["sigma"] == sigma]
        exits[float(sigma)] = dict(mu=plateau.mu, plateau_eg=plateau.eg, level=level, unstable=plateau.unstable,
                                   **exit_summary([r["N"] for r in mine], [r["t_exit"] for r in mine],
                                                  plateau.exit_slope(), tolerance=cfg["exit_tolerance"]))
    return exits, rows


def _flat_exits(exits: dict) -> list[dict]:
    return [dict(sigma=sigma, N=N, mean_t_exit=m, sd_t_exit=sd, starts=n,
                 **{k: v for k, v in e.items() if k != "per_N"})
            for sigma, e in exits.items() for N, (m, sd, n) in e["per_N"].items()]


def verdicts(cfg: dict, criterion: ConvergenceCriterion, summary: list[dict], exits: dict) -> str:
    ok = lambda b: "holds" if b else "**fails**"   # noqa: E731
    lo, hi = criterion.slope_range
    lines = ["# Simulation against the ODE: convergence in N from a fixed start, and the plateau exit", "",
             f"M = {cfg['M']}, K = {cfg['K']}, eta = {cfg['lr']:g}, v* = {cfg['vstar']:g}; order-parameter engine. "
             f"Starts drawn at N = {cfg['start_N']} (seeds {', '.join(map(str, cfg['starts']))}), run at "
             f"N = {', '.join(map(str, cfg['Ns']))}, {cfg['replicas']} replicas each, to t = {cfg['t_final']:g}. "
             "Regenerate with `python -m tsdyn.sweep ode_convergence` (the full study: "
             "`python -m tsdyn.sweep ode_convergence --sims sims/full`). Why: `theory/ode_vs_simulation.md`.", "",
             "## Convergence from a fixed start", "",
             f"Per replica, w = max over t in [1, {cfg['t_final']:g}] of |eps_sim / eps_ODE - 1|. Criterion: the median "
             f"of w over replicas falls with N at a log-log slope in [{lo:g}, {hi:g}]; at N = {criterion.final_N} the "
             f"median is <= {criterion.final_median:g} and every replica <= {criterion.final_max:g} (checked when "
             "the study reaches that N).", "",
             "| start | sigma | slope (s.e.) | median w at N max | max w at N max | verdict |", "|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['start']} | {s['sigma']:g} | {s['slope']:.3f} ({s['slope_se']:.3f}) | "
                     f"{s['median_at_N_max']:.4f} | {s['max_at_N_max']:.4f} (N = {s['N_max']}) | {ok(s['holds'])} |")
    lines += ["", "## The plateau exit", "",
              f"t_exit: first t > 1 with eps_g below {cfg['exit_fraction']:g} x the symmetric plateau's eps_g; "
              f"{cfg['exit_starts']} random starts drawn at each N. Theory: mean t_exit = ln N / (2 mu) + const, "
              f"mu the unstable eigenvalue of the ODE's Jacobian at the plateau (T = I). Criterion: the fitted slope "
              f"within {cfg['exit_tolerance']:.0%} of 1 / (2 mu).", "",
              "| sigma | plateau eps_g | mu (multiplicity) | 1/(2 mu) | fitted slope (s.e.) | ratio | verdict |",
              "|---|---|---|---|---|---|---|"]
    for sigma, e in exits.items():
        lines.append(f"| {sigma:g} | {e['plateau_eg']:.4f} | {e['mu']:.4f} ({e['unstable']}) | "
                     f"{e['predicted_slope']:.2f} | {e['slope']:.2f} ({e['slope_se']:.2f}) | {e['ratio']:.3f} | "
                     f"{ok(e['agrees'])} |")
    lines += ["", "Mean and standard deviation of t_exit per N (the spread should not grow with N):", "",
              "| sigma | N | mean t_exit | s.d. |", "|---|---|---|---|"]
    for sigma, e in exits.items():
        lines += [f"| {sigma:g} | {N} | {m:.1f} | {sd:.1f} |" for N, (m, sd, _) in e["per_N"].items()]
    return "\n".join(lines) + "\n"


def plot_convergence(cfg: dict, rows: list[dict], curves: list[dict], stem: Path) -> list[Path]:
    """Left: worst deviation against N (replicas as points, medians joined, an N^-1/2 guide). Right: eps_g(t)."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), constrained_layout=True)
    Ns = np.array(sorted(cfg["Ns"]), dtype=float)
    for i, start in enumerate(cfg["starts"]):
        for j, sigma in enumerate(cfg["sigmas"]):
            sel = [r for r in rows if r["start"] == start and r["sigma"] == sigma]
            colour, jitter = f"C{i}", 1 + 0.04 * (j - 0.5)
            left.loglog([r["N"] * jitter for r in sel], [r["worst"] for r in sel], "o" if j == 0 else "s",
                        color=colour, ms=3, alpha=0.45, mfc="none")
            med = [np.median([r["worst"] for r in sel if r["N"] == n]) for n in Ns]
            left.loglog(Ns * jitter, med, "-" if j == 0 else "--", color=colour, lw=1.3,
                        label=f"start {start}, $\\sigma$ = {sigma:g}")
    all_med = np.median([r["worst"] for r in rows if r["N"] == Ns[0]])
    left.loglog(Ns, all_med * (Ns / Ns[0]) ** -0.5, "k:", lw=1.2, label=r"$\propto N^{-1/2}$")
    left.axhline(cfg["final_max"], color="0.6", lw=0.8)
    left.set(xlabel="N", ylabel=r"worst $|\epsilon_{sim}/\epsilon_{ODE}-1|$ on $t\in[1, %g]$" % cfg["t_final"],
             title="Replicas (points) and their median (lines)")
    left.legend(fontsize=7, ncol=2)
    sigma0 = cfg["sigmas"][0]
    for k, N in enumerate(sorted({c["N"] for c in curves})):
        sel = [c for c in curves if c["N"] == N and c["sigma"] == sigma0 and c["t"] > 0]
        right.loglog([c["t"] for c in sel], [c["eg_sim"] for c in sel], "o", ms=2.5, color=f"C{k}", mfc="none",
                     label=f"SGD, N = {N}")
    sel = [c for c in curves if c["N"] == max(c["N"] for c in curves) and c["sigma"] == sigma0 and c["t"] > 0]
    right.loglog([c["t"] for c in sel], [c["eg_ode"] for c in sel], "k-", lw=1.2, label="ODE")
    right.set(xlabel="t = steps / N", ylabel=r"$\epsilon_g$",
              title=f"start {cfg['starts'][0]} (drawn at N = {cfg['start_N']}), $\\sigma$ = {sigma0:g}")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
    return save_figure(fig, stem)


def plot_exit(cfg: dict, rows: list[dict], exits: dict, stem: Path) -> list[Path]:
    """t_exit against ln N per sigma: starts as points, means with s.d., the fit and the theory's slope."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for j, (sigma, e) in enumerate(exits.items()):
        sel = [r for r in rows if r["sigma"] == sigma]
        lnN = np.log([r["N"] for r in sel])
        colour = f"C{j}"
        left.plot(lnN + 0.05 * (j - 0.5), [r["t_exit"] for r in sel], "o", color=colour, ms=3, alpha=0.4)
        Ns = np.array(sorted(e["per_N"]), dtype=float)
        means = np.array([e["per_N"][int(n)][0] for n in Ns])
        sds = np.array([e["per_N"][int(n)][1] for n in Ns])
        left.errorbar(np.log(Ns), means, yerr=sds, fmt="s", color=colour, capsize=3,
                      label=f"$\\sigma$ = {sigma:g}: mean $\\pm$ s.d.")
        x = np.log(Ns[[0, -1]])
        left.plot(x, e["slope"] * x + e["intercept"], "-", color=colour, lw=1,
                  label=f"fit: slope {e['slope']:.2f}")
        theory_b = means.mean() - e["predicted_slope"] * np.log(Ns).mean()
        left.plot(x, e["predicted_slope"] * x + theory_b, ":", color=colour, lw=1.5,
                  label=f"theory 1/(2$\\mu$) = {e['predicted_slope']:.2f}")
        right.semilogx(Ns, sds, "o-", color=colour, label=f"$\\sigma$ = {sigma:g}")
    left.set(xlabel="ln N", ylabel=r"$t_{exit}$",
             title=f"Plateau exit: $\\epsilon_g$ < {cfg['exit_fraction']:g} x plateau, {cfg['exit_starts']} starts per N")
    left.legend(fontsize=7)
    right.set(xlabel="N", ylabel=r"s.d. of $t_{exit}$", title="Spread per N", ylim=(0, None))
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
    return save_figure(fig, stem)
