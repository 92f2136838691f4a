"""Whether the breadth engines and ODE (issue 16; branches breadth-engines, breadth-ode) are on this branch.

Tests of the breadth options need ``simulate`` (engines) and/or ``integrate`` (ODE) to take them;
until the branch that provides them is merged they are skipped with this reason, not failed.
"""
import inspect

import pytest

from tsdyn.dynamics.ode import integrate
from tsdyn.simulate import simulate

OPTIONS = {"activation", "weight_decay", "batch", "lr_schedule", "lr2_schedule"}
from tsdyn.simulate import ORDER_ENGINE_TAKES_BREADTH  # noqa: E402

HAVE_ENGINES = OPTIONS <= set(inspect.signature(simulate).parameters) and ORDER_ENGINE_TAKES_BREADTH
HAVE_ODE = OPTIONS <= set(inspect.signature(integrate).parameters)
needs_engines = pytest.mark.skipif(not HAVE_ENGINES, reason="the order engine does not take the breadth options yet (issue 16)")
needs_ode = pytest.mark.skipif(not HAVE_ODE, reason="integrate lacks the breadth options: merge breadth-ode")
needs_breadth = pytest.mark.skipif(not (HAVE_ENGINES and HAVE_ODE),
                                   reason="simulate/integrate lack the breadth options: merge breadth-engines and breadth-ode")
