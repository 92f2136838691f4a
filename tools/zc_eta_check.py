"""Are the stalls of theorems_zc an artefact of the learning rate eta = 0.5 (the paper's)? Written to
figures/theorems_zc_eta.csv, quoted in README.md and figures/theorems_zc.md.

For each setting that stalls at eta = 0.5 (K = M = 2, and M = 5 at Z = 2, 3, 4) and seeds 0-2, the ODE
(N -> infinity, sigma = 0) from the seed's start at eta = 0.5 to t = 3200 and at eta = 0.1 to t = 16000
(the same eta t), with eps_g, max |v_i| and max Q_ii at the end.
Run: ``python tools/zc_eta_check.py`` (a few minutes on one core).
"""
from pathlib import Path

import numpy as np

from tsdyn.dynamics.ode import integrate
from tsdyn.outputs import write_rows
from tsdyn.simulate import simulate

rows = []
for M, K in ((2, 2), (5, 10), (5, 15), (5, 20)):
    for seed in (0, 1, 2):
        start = simulate(N=500, M=M, K=K, vstar=4.0, steps=0, seed=seed, engine="order").initial
        for lr in (0.5, 0.1):
            t = 1600.0 / lr
            ode = integrate(start, lr=lr, times=[0.0, t / 2, t])
            rows.append(dict(M=M, K=K, Z=K // M, seed=seed, lr=lr, t=t, eg_half=float(ode.eg[1]), eg=float(ode.eg[-1]),
                             max_abs_v=float(np.abs(ode.v[-1]).max()), max_Qii=float(np.diag(ode.Q[-1]).max())))
            print(rows[-1], flush=True)
write_rows(rows, Path(__file__).resolve().parents[1] / "figures" / "theorems_zc_eta.csv")
