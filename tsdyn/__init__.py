"""tsdyn: online learning in two-layer teacher-student networks, and pruning.

Modules, following the data flow config -> simulate / integrate / closed form
-> results -> figures:

* :mod:`tsdyn.conventions` - activation g, SGD scalings, time axis, defaults.
* :mod:`tsdyn.order_parameters` - Q, R, T from weights; validation.
* :mod:`tsdyn.integrals` - I2 (and the ODE integrals) in closed form.
* :mod:`tsdyn.eg` - generalisation error, eqs 5-8 of the pruning paper.
* :mod:`tsdyn.trajectory` - the result object of simulations and ODE runs.
"""
from tsdyn.eg import eg
from tsdyn.order_parameters import OrderParameters
from tsdyn.trajectory import Trajectory, load_state, record_grid

__all__ = ["eg", "OrderParameters", "Trajectory", "load_state", "record_grid"]
__version__ = "0.1.0"
