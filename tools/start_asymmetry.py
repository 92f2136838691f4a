"""How asymmetric each fixed start of ode_convergence is, quoted in theory/ode_vs_simulation.md (Sec. 4).

For the starts of seeds 0-2 (M = 2, K = 6, drawn at N = 500): the ODE's own plateau-exit time (eps_g first
below half the plateau's) and its delay over the symmetric plateau's linear escape, i.e. how small the start's
component along the unstable directions is. Run: ``python tools/start_asymmetry.py`` (a few seconds).
"""
import numpy as np

from tsdyn.dynamics.ode import integrate
from tsdyn.dynamics.plateau import find_plateau, first_passage
from tsdyn.simulate import simulate

plateau = find_plateau(np.eye(2), np.full(2, 4.0), 6, lr=0.5)
times = np.linspace(0, 200, 4001)
for seed in (0, 1, 2):
    start = simulate(N=500, steps=0, seed=seed).initial
    ode = integrate(start, lr=0.5, times=times)
    print(f"start {seed}: ODE exit t = {first_passage(ode.times, ode.eg, 0.5 * plateau.eg, after=1.0):.1f}")
