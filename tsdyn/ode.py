"""``python -m tsdyn.ode``: the order-parameter ODEs from a state or a simulation's output.

The integrator lives in :mod:`tsdyn.dynamics.ode`; this module is its
command-line entry point and keeps ``tsdyn.ode.integrate`` importable.
"""
from __future__ import annotations

import sys

from tsdyn.dynamics.ode import integrate, main

__all__ = ["integrate", "main"]

if __name__ == "__main__":
    sys.exit(main())
