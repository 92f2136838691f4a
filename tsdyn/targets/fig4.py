"""Sweep target ``fig4``: Figure 4 of the pruning paper, Theorems 2 and 3 in closed form.

Over Z = Z_min..Z_max and ``c_values`` values of c = j / ((c_values - 1) Z) in
[0, 1/Z] (so k_n/M = cZ runs over [0, 1]) it tabulates, per unit M v*^2, the GE
of DPP node pruning (pruning eqs 9, 10), of the expected random-edge-pruned network
(pruning eq 11) and its best rescaling (pruning eq 15, Theorem 3), and their differences.

Outputs (``report``): ``fig4.csv`` with columns
``Z,c,kn_over_M,eps_dpp,eps_edge,diff_thm2,epshat_dpp,epshat_edge,A_opt,diff_thm3``
and ``fig4.png`` / ``fig4.pdf``: heatmaps of diff_thm2 (A, claimed >= 0) and
diff_thm3 (B, claimed <= 0; erratum 2) over Z (rows) and k_n/M (columns).
The closed forms take milliseconds, so there are no jobs. They hold for erf students only
(:mod:`tsdyn.pruning.closed_form`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tsdyn.checks import check_int
from tsdyn.outputs import pyplot, save_figure, write_rows
from tsdyn.sweep.job import Job
from tsdyn.pruning.theorems import FIG4_COLUMNS, fig4_table

#: Numba kernel groups this target's runs and report use (tsdyn.sweep.warmup compiles them first).
KERNELS = ()


def jobs(cfg: dict, *, quick: bool) -> list[Job]:
    """No jobs: the closed forms are evaluated in :func:`report`."""
    return []


def report(cfg: dict, results: dict[str, dict], out: Path) -> list[Path]:
    """Write fig4.csv, fig4.png and fig4.pdf into ``out``; return their paths."""
    Z_min = check_int("Z_min", cfg.get("Z_min", 4), low=1)
    Z_max = check_int("Z_max", cfg.get("Z_max", 30), low=Z_min, low_name="Z_min")
    n_c = check_int("c_values", cfg.get("c_values", 51), low=2)
    table = fig4_table(range(Z_min, Z_max + 1), n_c)
    out = Path(out)
    paths = [write_csv(table, out / "fig4.csv")]
    paths += plot(table, n_c, out / "fig4")
    return paths


def write_csv(table: dict[str, np.ndarray], path: Path) -> Path:
    """One row per (Z, c); Z as an integer, every other column at full precision."""
    rows = ({k: (int(x) if k == "Z" else float(x)) for k, x in zip(FIG4_COLUMNS, values)}
            for values in zip(*(table[k] for k in FIG4_COLUMNS)))
    return write_rows(rows, path, FIG4_COLUMNS)


def plot(table: dict[str, np.ndarray], n_c: int, stem: Path) -> list[Path]:
    """Two heatmaps (Thm 2 and Thm 3 differences) over Z x k_n/M; writes stem.png and stem.pdf."""
    plt = pyplot()

    Z = table["Z"].reshape(-1, n_c)[:, 0]
    x = table["kn_over_M"].reshape(-1, n_c)[0]
    # Cell edges halfway between grid points, so every value sits at the centre of its cell.
    x_edges = np.concatenate([[x[0] - 0.5 * (x[1] - x[0])], 0.5 * (x[1:] + x[:-1]), [x[-1] + 0.5 * (x[-1] - x[-2])]])
    Z_edges = np.arange(Z[0] - 0.5, Z[-1] + 1.0)
    panels = [
        ("diff_thm2", "viridis", r"A: $\epsilon^{DPP} - \epsilon^{Edge}(\mathrm{E}f)$" + "\nTheorem 2 claims $\\geq 0$ (= 0 at c = 0)"),
        ("diff_thm3", "magma", r"B: $\hat\epsilon^{DPP} - \min_A \hat\epsilon^{Edge}(\mathrm{E}f)$" + "\nTheorem 3 claims $\\leq 0$ (= 0 at c = 0)"),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    for ax, (column, cmap, title) in zip(axes, panels):
        values = table[column].reshape(-1, n_c)
        mesh = ax.pcolormesh(x_edges, Z_edges, values, cmap=cmap, shading="flat")
        bar = fig.colorbar(mesh, ax=ax)
        bar.set_label(r"GE difference per unit $M v^{*2}$")
        ax.set_title(title + f"\nrange [{values.min():.3g}, {values.max():.3g}]", fontsize=10)
        ax.set_xlabel(r"$c\,Z = k_n / M$")
        ax.set_ylabel(r"$Z = K / M$")
    fig.suptitle("Figure 4: DPP node pruning vs random edge pruning (ideal ansatz, closed form)", fontsize=11)
    return save_figure(fig, stem)
