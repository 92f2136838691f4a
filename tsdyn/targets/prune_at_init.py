"""Sweep target ``prune_at_init``: prune a random student with each score, train it; width study and convergence claim.

Path-kernel paper Secs 4-5 in the teacher-student setting. For every seed the
student's initial weights are those :func:`tsdyn.simulate.simulate` draws; a
pruner (:data:`tsdyn.pathkernel.study.PRUNERS`) picks a mask at budget c over
both layers (the paper) or the first layer only; the masked student is trained
by online SGD (:func:`tsdyn.pathkernel.study.train_pruned`). The analysis is in
:mod:`tsdyn.pathkernel` (``width``, ``speed``, ``ntk``); this module declares
the runs and writes their tables and figures:

* ``prune_at_init{label}.csv``: one row per run (final GE, mask counts, traces);
  ``_summary.csv`` (mean and SEM per pruner and budget) and ``_winners.csv``;
  ``.png/.pdf``: final GE against c, one panel per width K.
* ``prune_at_init{label}_masks.csv``: one-shot against iterative SynFlow, both layers and first layer only.
* ``pathkernel_speed{label}.csv`` (per run and t of the speed grid), ``_fits.csv``
  (Figures 1 and 2 of the paper), ``pathkernel_theorem1{label}.csv`` and the figure
  ``pathkernel_speed{label}.png/.pdf``.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from tsdyn.outputs import save_figure, write_rows
from tsdyn.pathkernel import speed, width
from tsdyn.pathkernel.selection import mask_counts, prune
from tsdyn.pathkernel.study import DENSE, ITERATIVE, pruner_applies, pruner_marker, pruner_style
from tsdyn.sweep.job import Job
from tsdyn.targets.training import sgd_cost

#: Numba kernel groups this target's runs and report use (tsdyn.sweep.warmup compiles them first).
KERNELS = ("sgd",)

RUN_FIELDS = ("K", "c", "layers", "pruner", "seed", "eg_final", "eg0", "kept", "kept_w", "kept_v", "nodes_alive",
              "effective_nodes", "trace_pi0", "trace_pi1", "ntk_trace0")
MASK_FIELDS = ("K", "c", "seed", "layers", "pruner", "kept_w", "kept_v", "nodes_alive", "jaccard_with_one_shot")


def densities(cfg: dict) -> list[float]:
    """The budgets c of ``cfg["budgets"]``, written as fractions ("1/6") in the TOML."""
    out = []
    for text in cfg["budgets"]:
        try:
            c = Fraction(str(text))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"budgets must be fractions in (0, 1] such as \"1/6\", got {text!r}") from None
        if not 0 < c <= 1:
            raise ValueError(f"budgets must be fractions in (0, 1] such as \"1/6\", got {text!r}")
        out.append(float(c))
    return out


def _runs(cfg: dict):
    """(K, c, layers, pruner, seed) of every pruned run, dense runs (c = 1) first."""
    for K in cfg["K"]:
        for seed in cfg["seeds"]:
            yield int(K), 1.0, "both", DENSE, int(seed)
            for c in densities(cfg):
                for layers in cfg["layers"]:
                    for pruner in cfg["pruners"]:
                        if pruner_applies(pruner, c, int(K)):
                            yield int(K), c, layers, pruner, int(seed)


def _job_name(K, c, layers, pruner, seed) -> str:
    return f"prune-at-init-K{K}-c{c:.4g}-{layers}-{pruner}-seed{seed}"


def jobs(cfg: dict, *, quick: bool = False) -> list[Job]:
    """One training per (K, budget c, layers, pruner, seed), plus the dense student per (K, seed)."""
    steps = int(round(cfg["t_final"] * cfg["N"]))
    out = []
    for K, c, layers, pruner, seed in _runs(cfg):
        params = dict(N=cfg["N"], M=cfg["M"], K=K, lr=cfg["lr"], vstar=cfg["vstar"], sigma=cfg["sigma"], steps=steps,
                      seed=seed, pruner=pruner, density=c, layers=layers, score_samples=cfg["score_samples"],
                      rounds=cfg["iterative_rounds"], speed_times=[float(t) for t in cfg["speed_times"]],
                      ntk_samples=cfg["ntk_samples"])
        out.append(Job(_job_name(K, c, layers, pruner, seed), "tsdyn.pathkernel.study:train_pruned", params,
                       cost=sgd_cost(steps=steps, N=cfg["N"], K=K)))
    return out


def effective_nodes(mask: np.ndarray) -> float:
    """Participation ratio (sum_k n_k)^2 / sum_k n_k^2 of the kept edges per node: how many nodes the budget spans."""
    counts = np.asarray(mask).sum(axis=1).astype(float)
    return float(counts.sum() ** 2 / np.sum(counts**2)) if counts.any() else 0.0


# ---------------------------------------------------------------- report
def report(cfg: dict, results: dict[str, dict], out: Path) -> list[Path]:
    """Write the run table, the width summary, the mask comparison and the convergence study."""
    out, label = Path(out), cfg.get("label", "")
    runs, speed_rows, pruned = [], [], []
    for K, c, layers, pruner, seed in _runs(cfg):
        r = results[_job_name(K, c, layers, pruner, seed)]
        run = dict(K=K, c=c, layers=layers, pruner=pruner, seed=seed)
        live = np.asarray(r["mask_w"], bool) & np.asarray(r["mask_v"], bool)[:, None]
        runs.append(dict(run, eg_final=float(r["eg"][-1]), eg0=float(r["eg"][0]), kept=int(r["kept"]),
                         kept_w=int(r["kept_w"]), kept_v=int(r["kept_v"]), nodes_alive=int(r["nodes_alive"]),
                         effective_nodes=effective_nodes(live), trace_pi0=float(r["trace_pi0"]),
                         trace_pi1=float(r["trace_pi1"]), ntk_trace0=float(r["ntk_trace0"])))
        if pruner != DENSE:
            speed_rows += speed.speed_rows(run, r, cfg["speed_times"])
            pruned.append(r)
    summary = width.summarise(runs)
    fits = speed.figure1_fits(speed_rows, lr=cfg["lr"], N=cfg["N"]) + speed.figure2_fits(speed_rows)
    written = [write_rows(runs, out / f"prune_at_init{label}.csv", RUN_FIELDS),
               write_rows(summary, out / f"prune_at_init{label}_summary.csv", width.SUMMARY_FIELDS),
               write_rows(width.winners(summary), out / f"prune_at_init{label}_winners.csv", width.WINNER_FIELDS),
               write_rows(mask_comparison(cfg, results), out / f"prune_at_init{label}_masks.csv", MASK_FIELDS),
               write_rows(speed_rows, out / f"pathkernel_speed{label}.csv", speed.SPEED_FIELDS),
               write_rows(fits, out / f"pathkernel_speed{label}_fits.csv", speed.FIT_FIELDS),
               write_rows(speed.theorem1_summary(pruned), out / f"pathkernel_theorem1{label}.csv",
                          speed.THEOREM1_FIELDS)]
    written += _figure_width(cfg, summary, out / f"prune_at_init{label}")
    written += _figure_speed(cfg, speed_rows, fits, out / f"pathkernel_speed{label}")
    return written


def mask_comparison(cfg: dict, results: dict[str, dict]) -> list[dict]:
    """One-shot against iterative SynFlow (``iterative_rounds``) from each stored initial student, both budget rules."""
    rows = []
    for K, c, layers, pruner, seed in _runs(cfg):
        if pruner != DENSE or "synflow" not in cfg["pruners"]:
            continue
        r = results[_job_name(K, c, layers, pruner, seed)]
        for c in densities(cfg):
            for rule in ("both", "first"):
                one = prune("synflow", r["w0"], r["v0"], c, layers=rule)
                for name, m in (("synflow", one),
                                (ITERATIVE, prune("synflow", r["w0"], r["v0"], c, layers=rule,
                                                  rounds=cfg["iterative_rounds"]))):
                    a = np.concatenate([one.w.ravel(), one.v])
                    b = np.concatenate([m.w.ravel(), m.v])
                    counts = mask_counts(m)
                    rows.append(dict(K=K, c=c, seed=seed, layers=rule, pruner=name, kept_w=counts["kept_w"],
                                     kept_v=counts["kept_v"], nodes_alive=counts["nodes_alive"],
                                     jaccard_with_one_shot=float((a & b).sum() / (a | b).sum())))
    return rows


def _figure_width(cfg: dict, summary: list[dict], stem: Path) -> list[Path]:
    from matplotlib.figure import Figure

    Ks = [int(K) for K in cfg["K"]]
    layers = cfg["layers"][0]
    fig = Figure(figsize=(4.2 * len(Ks) + 1.5, 4.2), layout="constrained")
    axes = fig.subplots(1, len(Ks), squeeze=False, sharey=True)[0]
    for ax, K in zip(axes, Ks):
        sel = [r for r in summary if r["K"] == K and r["layers"] == layers]
        for i, pruner in enumerate(cfg["pruners"]):
            pts = sorted((r["c"], r["eg_mean"], r["eg_sem"]) for r in sel if r["pruner"] == pruner)
            if pts:
                c, m, s = map(np.array, zip(*pts))
                ax.errorbar(c * (1 + 0.015 * (i - len(cfg["pruners"]) / 2)), m, yerr=s, marker=pruner_marker(pruner),
                            ms=4, capsize=2, label=pruner, **pruner_style(pruner))
        dense = [r["eg_mean"] for r in summary if r["K"] == K and r["pruner"] == DENSE]
        if dense:
            ax.axhline(dense[0], color="k", lw=0.8, ls=":", label="dense")
        ax.set(xscale="log", yscale="log", xlabel="budget c (kept fraction of the parameters)", title=f"K = {K}")
    axes[0].set_ylabel(r"final $\epsilon_g$ (pruning eqs 5-8), mean $\pm$ SEM")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="outside right center")
    fig.suptitle(f"Pruned at init ({layers} layers in the budget), trained to t = {cfg['t_final']:g}; "
                 f"M = {cfg['M']}, N = {cfg['N']}, {len(cfg['seeds'])} seeds")
    return save_figure(fig, stem)


def _figure_speed(cfg: dict, rows: list[dict], fits: list[dict], stem: Path) -> list[Path]:
    from matplotlib.figure import Figure

    rows = [r for r in rows if r["trace_pi1"] > 0]      # networks with a path left (the fits' rows)
    fig = Figure(figsize=(12, 4.4), layout="constrained")
    ax_curve, ax_r2 = fig.subplots(1, 2)
    for pruner in dict.fromkeys(r["pruner"] for r in rows):
        pts = [r for r in rows if r["pruner"] == pruner]
        ax_curve.scatter([cfg["lr"] * r["trace_pi1"] / cfg["N"] * r["t"] for r in pts], [r["rel_drop"] for r in pts],
                         s=8, alpha=0.6, marker=pruner_marker(pruner), color=pruner_style(pruner)["color"], label=pruner)
    xs = np.logspace(np.log10(min(cfg["lr"] * r["trace_pi1"] / cfg["N"] * r["t"] for r in rows)),
                     np.log10(max(cfg["lr"] * r["trace_pi1"] / cfg["N"] * r["t"] for r in rows)), 200)
    for claim, ls in (("fig1_paper_rate", "-"), ("fig1_free_rate", "--")):
        f = next(f for f in fits if f["claim"] == claim and f["y"] == "rel_drop" and f["group"] == "all")
        ax_curve.plot(xs, f["a"] * (1 - np.exp(-f["b"] * xs)), "k", ls=ls,
                      label=f"a(1-exp(-{f['b']:.3g} x)), $R^2$ = {f['r2']:.2f}")
    ax_curve.set(xscale="log", xlabel=r"$\eta\,$Tr$\,\Pi(\theta_1)\,t / N$",
                 ylabel=r"relative GE drop $(\epsilon_0-\epsilon_t)/\epsilon_0$", title="path-kernel Fig. 1 curve")
    ax_curve.legend(fontsize=6, ncol=2)
    for x_key, ls in (("log trace_pi0", "-"), ("log ntk_trace0", "--")):
        for y_key, color in (("drop", "C0"), ("rel_drop", "C3")):
            sel = sorted((f["t"], f["r2"]) for f in fits if f["claim"] == "fig2_log_linear" and f["x"] == x_key
                         and f["y"] == y_key and f["group"] == "all")
            if sel:
                ax_r2.plot(*zip(*sel), marker="o", ls=ls, color=color, label=f"{y_key} on {x_key}")
    ax_r2.set(xscale="log", xlabel="t (time of the speed measurement)", ylabel=r"$R^2$ of the linear fit, all runs",
              ylim=(0, 1), title="path-kernel Fig. 2: speed against log trace at init")
    ax_r2.legend(fontsize=7)
    fig.suptitle(f"Convergence claim on pruned-at-init students (K = {cfg['K']}, M = {cfg['M']}, N = {cfg['N']})")
    return save_figure(fig, stem)
