"""Linear students without label noise: the ODE's eps_g falls to round-off within t ~ 50 (quoted in sims/breadth.toml).

The breadth target's start (seed 0 drawn at N = 500; M = K = 2, v* = 1, eta = 0.5). eps_g of eqs 5-8 is a
sum of O(1) terms, so below ~1e-13 it is rounding, and a relative comparison of two runs there is
meaningless; with sigma = 0.1 the floor is ~2e-3. Run: ``python tools/breadth_linear_sigma0.py`` (a few s).
"""
import numpy as np

from tsdyn.dynamics.ode import integrate
from tsdyn.simulate import simulate

start = simulate(N=500, M=2, K=2, vstar=1.0, steps=0, seed=0).initial
times = [0, 1, 3, 10, 20, 30, 50, 100]
for sigma in (0.0, 0.1):
    eg = integrate(start, lr=0.5, sigma=sigma, times=times, activation="linear").eg
    print(f"sigma = {sigma}: " + " ".join(f"t={t}:{e:.3g}" for t, e in zip(times, eg)))
