"""tsdyn: online learning in two-layer teacher-student networks, and pruning.

Data flow: config (``sims/*.toml``) -> simulate / integrate / closed form ->
results (:class:`Trajectory`) -> figures. Subpackages by theory:

* core, at the top: :mod:`tsdyn.conventions` (g, scalings, time, defaults),
  :mod:`tsdyn.order_parameters` (Q, R, T, v), :mod:`tsdyn.integrals` (I2, I3, I4, J2),
  :mod:`tsdyn.eg` (pruning eqs 5-8), :mod:`tsdyn.trajectory` (the run state).
* :mod:`tsdyn.dynamics` - online SGD and the order-parameter ODEs (Goldt et al. 2019).
* :mod:`tsdyn.pruning` - pruning operators, k-DPP, closed forms and Theorems 1-3 (pruning paper).
* :mod:`tsdyn.pathkernel` - path kernel and pruning-at-initialisation scores (path-kernel paper).
* :mod:`tsdyn.sweep`, :mod:`tsdyn.targets` - the experiment runner and one module per figure.

``simulate``, ``integrate``, ``kdpp_subsets`` and ``subset_eg`` are importable from
here. ``simulate`` is imported at once (its name is also its module's, which would
otherwise shadow it); the others are loaded on first use.
"""
from tsdyn.eg import eg
from tsdyn.order_parameters import OrderParameters
from tsdyn.simulate import simulate
from tsdyn.trajectory import Trajectory, load_state, record_grid

_LAZY = {"integrate": "tsdyn.dynamics.ode", "kdpp_subsets": "tsdyn.pruning.dpp",
         "subset_eg": "tsdyn.pruning.operators"}

__all__ = ["eg", "OrderParameters", "Trajectory", "load_state", "record_grid", "simulate", *_LAZY]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tsdyn' has no attribute {name!r}")
