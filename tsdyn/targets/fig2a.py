"""Sweep target ``fig2a``: Figure 2A of the pruning paper, node pruning of a trained student.

For every trained student (``sigmas`` x ``seeds``) and k_n = 1..K: the exact GE
of DPP (k-DPP with kernel Q; exact expectation by enumeration), importance and
random node pruning (exact expectation), without reweighting, with DIVNET and
with the GE-optimal second layer; plus the paper's test-set 1/2 MSE with noisy
labels on ``test_samples`` inputs.

Outputs: ``fig2a.csv`` (one row per student x method x reweighting x k_n) and
``fig2a.png`` / ``.pdf``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tsdyn.outputs import pyplot, save_figure, write_rows
from tsdyn.pruning.study import pruning_table
from tsdyn.seeds import TEST_SET_SEED
from tsdyn.sweep.job import Job
from tsdyn.targets.students import students
from tsdyn.targets.training import training_jobs

#: Numba kernel groups this target's runs and report use (tsdyn.sweep.warmup compiles them first).
KERNELS = ("sgd",)

METHOD_STYLE = {"dpp": ("DPP node", "C0", "o"), "importance": ("importance node", "C1", "s"),
                "random": ("random node", "C2", "^")}


def jobs(cfg: dict, *, quick: bool) -> list[Job]:
    return training_jobs(cfg)


def report(cfg: dict, results: dict[str, dict], out: Path) -> list[Path]:
    """The fig2a table: exact GE (and test-set 1/2 MSE) of every node pruning, every student, every k_n."""
    table = pruning_table(students(cfg, results), range(1, cfg["K"] + 1),
                          test_samples=int(cfg.get("test_samples", 0)), test_seed=TEST_SET_SEED)
    paths = [write_rows(table, Path(out) / "fig2a.csv")]
    return paths + plot(table, cfg, Path(out) / "fig2a")


def plot(table: list[dict], cfg: dict, stem: Path) -> list[Path]:
    """GE against k_n per method; solid: no reweighting, dashed: GE-optimal reweighting; mean +- sd over seeds."""
    plt = pyplot()
    sigmas = cfg["sigmas"]
    fig, axes = plt.subplots(1, len(sigmas), figsize=(5.2 * len(sigmas), 4.2), squeeze=False, constrained_layout=True)
    for ax, sigma in zip(axes[0], sigmas):
        for method, (label, colour, marker) in METHOD_STYLE.items():
            for reweight, style in (("none", "-"), ("optimal", "--")):
                sel = [r for r in table if r["sigma"] == sigma and r["method"] == method and r["reweight"] == reweight]
                kn = sorted({r["kn"] for r in sel})
                eps = np.array([[r["eps"] for r in sel if r["kn"] == k] for k in kn])
                ax.errorbar(kn, eps.mean(axis=1), yerr=eps.std(axis=1), color=colour, marker=marker, ls=style,
                            ms=4, capsize=2, label=f"{label}" + (" + reweighting" if reweight != "none" else ""))
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_xticks(range(1, cfg["K"] + 1))
        ax.set_xlabel("$k_n$ (nodes kept)")
        ax.set_ylabel(r"generalisation error $\epsilon_g$ (exact, eqs 5-8)")
        ax.set_title(f"$\\sigma$ = {sigma}: M = {cfg['M']}, K = {cfg['K']}, N = {cfg['N']}, "
                     f"{len(cfg['seeds'])} seed(s)", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Figure 2A: node pruning of trained students (DPP expectation exact over the k-DPP)", fontsize=11)
    return save_figure(fig, stem)
