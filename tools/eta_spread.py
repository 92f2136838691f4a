"""Replica spread against the learning rate, quoted in theory/ode_vs_simulation.md (Sec. 1).

Start of seed 1 (M = 2, K = 6, N = 500, v* = 4, sigma = 0), four replicas (data seeds 1, 10001-10003)
per rate, trained to the same eta * t = 800. Per rate: the largest replica spread max/min of eps_g over
record times with eta * t >= 0.5, where it occurs (in eta * t), and how many replicas stay within +-20 %
of the ODE from the same start at every such time. Run: ``python tools/eta_spread.py`` (about 2 min).
"""
import numpy as np

from tsdyn.dynamics.ode import integrate
from tsdyn.simulate import simulate

print("| η | largest replica spread max/min | at ηt | replicas within ±20 % of the ODE throughout |")
print("|---|---|---|---|")
for lr in (0.5, 0.25, 0.125):
    runs = [simulate(seed=1, data_seed=d, lr=lr, steps=int(400_000 / lr)) for d in (1, 10001, 10002, 10003)]
    ode = integrate(runs[0], lr=lr)
    late = lr * runs[0].times >= 0.5
    eg = np.array([r.eg for r in runs])[:, late]
    spread = eg.max(axis=0) / eg.min(axis=0)
    j = int(np.argmax(spread))
    within = int(np.sum(np.all(np.abs(eg / ode.eg[late] - 1) <= 0.2, axis=1)))
    print(f"| {lr:g} | {spread[j]:.2f} | {lr * runs[0].times[late][j]:.0f} | {within} / {len(runs)} |")
