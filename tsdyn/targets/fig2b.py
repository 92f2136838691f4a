"""Sweep target ``fig2b``: Figure 2B of the pruning paper, random edge against DPP node pruning.

M = 5, K = 20 (Z = 4, erratum 1). For k_n = 1..M (c = k_n/K <= 1/Z, Theorem 2's
range) random edge pruning keeps k_e = round(N k_n / K) edges per node (pruning eq 1):
the mean exact GE over ``edge_masks`` Bernoulli(c) masks and the GE of the
expected network (Lemma 6), against the exact expectation of DPP node pruning;
without reweighting and with the GE-optimal reweighting (scale A for edges).

Outputs: ``fig2b.csv`` and ``fig2b.png`` / ``.pdf``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tsdyn.outputs import pyplot, save_figure, write_rows
from tsdyn.pruning.study import pruning_table
from tsdyn.seeds import EDGE_MASK_SEED
from tsdyn.sweep.job import Job
from tsdyn.targets.students import students
from tsdyn.targets.training import training_jobs

#: Numba kernel groups this target's runs and report use (tsdyn.sweep.warmup compiles them first).
KERNELS = ("order", "sgd")


def jobs(cfg: dict, *, quick: bool) -> list[Job]:
    return training_jobs(cfg)


def report(cfg: dict, results: dict[str, dict], out: Path) -> list[Path]:
    """DPP node pruning and random edge pruning of every student, k_n = 1..M (DIVNET rows left out)."""
    table = pruning_table(students(cfg, results), range(1, cfg["M"] + 1), methods=("dpp",),
                          edge_masks=int(cfg["edge_masks"]), edge_seed=EDGE_MASK_SEED)
    table = [r for r in table if r["reweight"] != "divnet"]
    paths = [write_rows(table, Path(out) / "fig2b.csv")]
    return paths + plot(table, cfg, Path(out) / "fig2b")


def plot(table: list[dict], cfg: dict, stem: Path) -> list[Path]:
    """GE against k_n: DPP node vs random edge (masks and expected network); rows: reweighting, columns: sigma."""
    plt = pyplot()
    sigmas = cfg["sigmas"]
    fig, axes = plt.subplots(2, len(sigmas), figsize=(5.2 * len(sigmas), 7.4), squeeze=False,
                             constrained_layout=True, sharex=True)
    for col, sigma in enumerate(sigmas):
        for row, (reweight, title) in enumerate((("none", "without reweighting"),
                                                 ("optimal", "with GE-optimal reweighting"))):
            ax = axes[row][col]
            for method, key, label, style in (("dpp", "eps", "DPP node (exact expectation)", "C0o-"),
                                              ("edge", "eps", f"random edge ({cfg['edge_masks']} masks)", "C3s-"),
                                              ("edge", "eps_expected_network", "random edge, expected network (Lemma 6)", "C3:")):
                sel = [r for r in table if r["sigma"] == sigma and r["method"] == method and r["reweight"] == reweight]
                kn = sorted({r["kn"] for r in sel})
                eps = np.array([[r[key] for r in sel if r["kn"] == k] for k in kn])
                ax.errorbar(kn, eps.mean(axis=1), yerr=eps.std(axis=1), fmt=style, ms=4, capsize=2, label=label)
            ax.set_xticks(kn)
            ax.set_title(f"$\\sigma$ = {sigma}, {title}", fontsize=10)
            ax.set_ylabel(r"$\epsilon_g$ (exact, eqs 5-8)")
            ax.grid(alpha=0.3)
            if row == 1:
                ax.set_xlabel(f"$k_n$ (edge pruning: $c = k_n/K$, K = {cfg['K']}, N = {cfg['N']})")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"Figure 2B: random edge vs DPP node pruning, M = {cfg['M']}, K = {cfg['K']} "
                 f"(mean $\\pm$ sd over {len(cfg['seeds'])} seed(s))", fontsize=11)
    return save_figure(fig, stem)
