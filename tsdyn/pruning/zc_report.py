"""Figures and the markdown of the (Z, c) comparison layer, drawn from its rows (pure: rows in, files out).

Rows are those of :mod:`tsdyn.pruning.zc` (margins and :func:`~tsdyn.pruning.zc.verdict_fractions`),
of :mod:`tsdyn.pruning.zc_departures` (students) and of the runs; see the target
``theorems_zc`` for the columns.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from tsdyn.outputs import pyplot, save_figure
from tsdyn.pruning.theorems import theorem2_difference, theorem3_difference
from tsdyn.pruning.zc import THEOREMS, ZC_KERNELS

LEVEL_STYLE = {"ansatz": ("k", "-"), "ode": ("tab:blue", "--"), "sgd": ("tab:red", "-"), "sgd_800k": ("tab:orange", ":")}
TRAINED = ("ode", "sgd", "sgd_800k")


def _settings(rows):
    return sorted({(int(r["M"]), int(r["Z"])) for r in rows})


def _index(verdicts):
    return {(r["M"], r["Z"], r["kn"], r["sigma"], r["level"], r["kernel"], r["theorem"]): r for r in verdicts}


def plot_margins(verdicts: list[dict], stem: Path, *, sigma: float = 0.0, kernel: str = "Q") -> list[Path]:
    """Theorem 2 and 3 margins against c per (M, Z): ansatz line, ODE and SGD means +- s.e. (Figure 4 against simulation)."""
    plt = pyplot()
    idx, sets = _index(verdicts), _settings(verdicts)
    cols = 5
    nrows = -(-len(sets) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.7 * nrows), squeeze=False)
    fig.subplots_adjust(left=0.05, right=0.98, top=0.92, bottom=0.07, hspace=0.45, wspace=0.3)
    for ax, (M, Z) in zip(axes.flat, sets):
        c_line = np.linspace(0, 1 / Z, 101)
        for theorem, colour, line in (("2", "tab:green", theorem2_difference(c_line, Z)),
                                      ("3", "tab:purple", -theorem3_difference(c_line, Z))):
            ax.plot(c_line, line, color=colour, lw=1, label=f"Thm {theorem} ansatz")
            for level, marker in (("ode", "s"), ("sgd", "o"), ("sgd_800k", "^")):
                pts = [idx[k] for k in sorted(idx) if k[:2] == (M, Z) and k[3:] == (sigma, level, kernel, theorem)]
                if pts:
                    c = [p["c"] for p in pts]
                    ax.errorbar(c, [p["mean_margin"] for p in pts], yerr=[np.nan_to_num(p["sem_margin"]) for p in pts],
                                color=colour, marker=marker, ls="--" if level == "ode" else "none", ms=4,
                                mfc="none" if level == "sgd_800k" else colour, label=f"Thm {theorem} {level}")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_title(f"M = {M}, Z = {Z}", fontsize=9)
        ax.set_xlabel("c = k_n / K", fontsize=8)
        ax.set_yscale("symlog", linthresh=1e-3)
    for ax in list(axes.flat)[len(sets):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=5, ncol=2)
    fig.suptitle(f"Theorems 2 and 3: margin per M v*^2 (>= 0: holds), kernel {kernel}, sigma = {sigma:g}; "
                 "line: ansatz, markers: ODE (square), SGD converged (dot, mean +- s.e.), SGD 800k (triangle)", fontsize=9)
    return save_figure(fig, stem)


def plot_verdicts(verdicts: list[dict], stem: Path) -> list[Path]:
    """Fraction of seeds where each theorem holds over (setting, k_n <= M), per level and kernel; one figure per sigma.

    One image per theorem (few artists: drawing 70 small axes took minutes): column blocks are
    (level, kernel), k_n = 1..max M inside each block, rows the (M, Z) settings.
    """
    plt = pyplot()
    idx, sets = _index(verdicts), _settings(verdicts)
    paths = []
    columns = [("ansatz", "Q")] + [(lv, k) for lv in TRAINED for k in ZC_KERNELS]
    kmax = max(M for M, _ in sets)
    width = kmax + 1                                   # one empty slot between blocks
    for sigma in sorted({r["sigma"] for r in verdicts}):
        fig, axes = plt.subplots(len(THEOREMS), 1, figsize=(13, 2.0 * len(THEOREMS)), squeeze=False)
        for ax, theorem in zip(axes[:, 0], THEOREMS):
            grid = np.full((len(sets), width * len(columns)), np.nan)
            for j, (level, kernel) in enumerate(columns):
                for a, (M, Z) in enumerate(sets):
                    for k in range(1, M + 1):
                        r = idx.get((M, Z, k, sigma, level, kernel, theorem))
                        if r is not None:
                            grid[a, j * width + k - 1] = r["fraction"]
            mesh = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto", origin="lower", interpolation="nearest")
            ax.set_yticks(range(len(sets)), [f"M{M} Z{Z}" for M, Z in sets], fontsize=5)
            ax.set_xticks([j * width + (kmax - 1) / 2 for j in range(len(columns))],
                          [f"{lv} {k}" for lv, k in columns], fontsize=7)
            ax.set_ylabel(f"Thm {theorem}", fontsize=9)
        axes[-1, 0].set_xlabel(f"(level, kernel); inside each block k_n = 1..{kmax} left to right", fontsize=8)
        fig.subplots_adjust(left=0.07, right=0.9, top=0.96, bottom=0.04, hspace=0.35)
        bar = fig.add_axes((0.92, 0.3, 0.015, 0.4))
        fig.colorbar(mesh, cax=bar, label="fraction of seeds where it holds")
        fig.suptitle(f"Verdicts over (Z, k_n = cK), sigma = {sigma:g}", fontsize=10)
        # "0.25" would be taken for a suffix by Path.with_suffix: write sigma0p25.
        # (only in the sigma part: the report's staging folder ".report-*" is in ``stem`` and must stay as it is).
        paths += save_figure(fig, Path(f"{stem}_sigma" + f"{sigma:g}".replace(".", "p")))
    return paths


def plot_theorem1(verdicts: list[dict], stem: Path, *, M: int = 2, sigma: float = 0.0, level: str = "sgd") -> list[Path]:
    """Theorem 1's mean margins over (Z, k_n = 1..K) per kernel (M = 2, converged SGD, sigma = 0)."""
    plt = pyplot()
    from matplotlib.colors import SymLogNorm

    rows = [r for r in verdicts if r["M"] == M and r["sigma"] == sigma and r["level"] == level]
    if not rows:
        return []
    Zs = sorted({r["Z"] for r in rows})
    kmax = max(r["kn"] for r in rows)
    theorems = ("1a", "1b", "1c", "1d")
    fig, axes = plt.subplots(len(theorems), len(ZC_KERNELS), figsize=(12, 9), squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.86, top=0.93, bottom=0.06, hspace=0.55, wspace=0.25)
    norm = SymLogNorm(linthresh=1e-3, vmin=-0.3, vmax=0.3)
    for i, theorem in enumerate(theorems):
        for j, kernel in enumerate(ZC_KERNELS):
            grid = np.full((len(Zs), kmax), np.nan)
            for r in rows:
                if r["theorem"] == theorem and r["kernel"] == kernel:
                    grid[Zs.index(r["Z"]), r["kn"] - 1] = r["mean_margin"]
            mesh = axes[i, j].imshow(grid, cmap="RdBu", norm=norm, aspect="auto", origin="lower",
                                     extent=(0.5, kmax + 0.5, Zs[0] - 0.5, Zs[-1] + 0.5))
            axes[i, j].plot([M + 0.5] * 2, [Zs[0] - 0.5, Zs[-1] + 0.5], color="k", lw=0.8)
            axes[i, j].set_title(f"Thm {theorem}, kernel {kernel}", fontsize=9)
            axes[i, j].set_xlabel("k_n (right of the line: node-only, k_n > M)", fontsize=7)
            axes[i, j].set_ylabel("Z", fontsize=8)
    fig.colorbar(mesh, cax=fig.add_axes((0.89, 0.25, 0.015, 0.5)), label="mean margin per M v*^2 (blue: holds)")
    fig.suptitle(f"Theorem 1 on converged students (M = {M}, sigma = {sigma:g}, level {level}); blank: not enumerated", fontsize=10)
    return save_figure(fig, stem)


def plot_training(training: list[dict], runs: list[dict], stem: Path, *, sigma: float = 0.0) -> list[Path]:
    """Margins at k_n = 1 and k_n = M along training, SGD mean and ODE mean, against t; the stopping times marked.

    ``training`` holds the seed statistics of :func:`tsdyn.pruning.zc.training_summary`.
    """
    plt = pyplot()
    rows = [r for r in training if r["sigma"] == sigma]
    sets = _settings(rows)
    fig, axes = plt.subplots(2, len(sets), figsize=(4 * len(sets), 6.5), squeeze=False)
    fig.subplots_adjust(left=0.05, right=0.98, top=0.9, bottom=0.08, hspace=0.35, wspace=0.25)
    curves = defaultdict(dict)
    for r in rows:
        curves[(r["M"], r["Z"], r["kn"], r["theorem"], r["kernel"], r["level"])][r["t"]] = r["mean_margin"]
    lines = (("1a", "Q", "tab:blue"), ("1a", "Qcos", "tab:cyan"), ("1d", "Qcos", "tab:olive"),
             ("2", "Q", "tab:green"), ("3", "Q", "tab:purple"))
    for j, (M, Z) in enumerate(sets):
        for i, kn in enumerate((1, M)):
            ax = axes[i, j]
            for theorem, kernel, colour in lines:
                for level, ls in (("sgd", "-"), ("ode", "--")):
                    pts = curves.get((M, Z, kn, theorem, kernel, level))
                    if pts:
                        t = sorted(pts)
                        ax.plot(t, [pts[x] for x in t], ls=ls, color=colour,
                                label=f"{theorem} {kernel} {level}" if j == 0 and i == 0 else None)
            mine = [r for r in runs if (r["M"], r["Z"], r["sigma"]) == (M, Z, sigma)]
            stops = [r["t_stop"] for r in mine if r["met"]]
            if stops:
                ax.axvline(np.median(stops), color="k", lw=0.8, ls=":")
            exits = [r["t_exit"] for r in mine if np.isfinite(r["t_exit"])]
            if exits:
                ax.axvline(np.median(exits), color="0.4", lw=0.8, ls="-.")
            ax.axhline(0, color="0.6", lw=0.6)
            ax.set_xscale("log")
            ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_title(f"M = {M}, Z = {Z}, k_n = {kn}", fontsize=9)
            ax.set_xlabel("t")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(f"Theorem margins along training (sigma = {sigma:g}): SGD mean (solid), ODE mean (dashed); "
                 "dotted: median time the specialisation rule held (runs that met it); dash-dotted: median plateau exit "
                 "(eps_g below half the symmetric plateau's)", fontsize=9)
    return save_figure(fig, stem)
