"""Typed, strict settings of each sweep target: one pydantic model per ``sims/<target>.toml``.

Strict means no coercion: booleans are booleans, integers are integers (an
integer is accepted where a real number is expected, and kept an integer, so a
job's parameters - and its cache key - are what the TOML says), lists are
lists. Unknown keys are refused. Cross-field rules (K >= M, Z_max >= Z_min, ...)
are checked too. :func:`tsdyn.sweep.config.load_config` turns a failure into
one line naming the file, the table and the key.
"""
from __future__ import annotations

from tsdyn.sweep.settings.common import Breadth, Network, Strict, Training
from tsdyn.sweep.settings.figures import Fig2a, Fig2b, Fig3, OdeVsSim, ZGrid, Fig4, Theorems
from tsdyn.sweep.settings.pruning import (
    Student, Pathkernel, RetrainStudent, During, Convergence, Retrain, PruneAtInit, ZcStudents, TheoremsZc,
)
from tsdyn.sweep.settings.dynamics import OdeConvergence, BreadthActivations, BreadthAnnealing, BreadthTarget

#: The settings model of each target.
MODELS: dict[str, type[Strict]] = {
    "fig2a": Fig2a, "fig2b": Fig2b, "fig3": Fig3, "fig4": Fig4, "theorems": Theorems, "theorems_zc": TheoremsZc,
    "ode_vs_sim": OdeVsSim, "ode_convergence": OdeConvergence, "pathkernel": Pathkernel,
    "prune_at_init": PruneAtInit, "retrain": Retrain, "breadth": BreadthTarget,
}
