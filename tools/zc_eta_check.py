"""Are the stalls of theorems_zc an artefact of the learning rate eta = 0.5 (the paper's)? Writes
figures/theorems_zc_eta.csv; theorems_zc.md's Stalls section quotes it beside the stalls.

For the settings that stall at eta = 0.5 (M = 5 at Z = 2, 3, 4; and K = M = 2 as a control) and seeds 0-2,
the ODE (N -> infinity, sigma = 0) from the seed's start (the start of theorems_zc's runs: order engine,
N = 500) at eta = 0.5 and at eta = 0.1, each to eta t = 800 and 1600 (t = 1600, 3200 at eta = 0.5;
t = 8000, 16 000 at eta = 0.1): eps_g, max |v_i|, max Q_ii, and the specialisation rule's alignment
(tsdyn.dynamics.specialise: every active node at cosine >= 0.9 with its teacher node, every teacher covered)
at the end. Integrator as the target (RK45, rtol 1e-6; tested against LSODA in tests/test_theorems_zc.py), LSODA
where RK45 leaves the valid domain (K = M = 2 at eta = 0.1 learns the teacher to eps_g ~ 1e-11).
Run: ``PYTHONPATH=$PWD python tools/zc_eta_check.py`` (about 5 CPU minutes).
"""
from pathlib import Path

import numpy as np

from tsdyn.dynamics.ode import integrate
from tsdyn.dynamics.specialise import alignment
from tsdyn.outputs import write_rows
from tsdyn.simulate import simulate

ETA_T = (800.0, 1600.0)          # eta t at the two records; eta t = 800 is t = 1600 at eta = 0.5 (the paper's)


def main() -> None:
    rows = []
    for M, K in ((2, 2), (5, 10), (5, 15), (5, 20)):
        for seed in (0, 1, 2):
            start = simulate(N=500, M=M, K=K, vstar=4.0, steps=0, seed=seed, engine="order").initial
            for lr in (0.5, 0.1):
                times = [0.0] + [x / lr for x in ETA_T]
                ode = integrate(start, lr=lr, times=times, method="RK45", rtol=1e-6)
                if not ode.success:         # a perfectly learnt K = M student reaches the PSD boundary: LSODA holds it
                    ode = integrate(start, lr=lr, times=times)
                for i, eta_t in enumerate(ETA_T, start=1):
                    a = alignment(ode.at(i))
                    rows.append(dict(M=M, K=K, Z=K // M, seed=seed, lr=lr, eta_t=eta_t, t=times[i], eg=float(ode.eg[i]),
                                     aligned=a.aligned, active=int(a.active.sum()),
                                     min_cosine=float(a.cosine[a.active].min()) if a.active.any() else 0.0,
                                     max_abs_v=float(np.abs(ode.v[i]).max()), max_Qii=float(np.diag(ode.Q[i]).max())))
                    print(rows[-1], flush=True)
    write_rows(rows, Path(__file__).resolve().parents[1] / "figures" / "theorems_zc_eta.csv")


if __name__ == "__main__":
    main()
