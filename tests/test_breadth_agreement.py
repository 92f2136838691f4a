"""Issue 16, part 4: every new option of the order-parameter engine agrees with the ODE.

From one fixed start (drawn at N = 500), the order-parameter engine at N = 20 000 stays within 10 %
of the ODE on t in [1, 100]: per replica the worst |eps_sim / eps_ODE - 1| over the record times,
median of 4 replicas (other data seeds) <= 0.1. The ODE and the engine are independent
computations of one law (the engine draws the fields of each step exactly, the ODE averages them
analytically), so a wrong term in either (decay, 1/B, a schedule, an activation's integrals)
shows as a deviation growing with t. The engine's cost does not depend on N: each case is
4 x 2 000 000 steps of an M = 2, K = 2 chain.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tsdyn.dynamics.convergence import worst_deviation
from tsdyn.dynamics.ode import integrate
from tsdyn.simulate import simulate

sys.path.insert(0, str(Path(__file__).parent))
from breadth_api import needs_breadth, needs_ode  # noqa: E402

N = 20_000
T_FINAL = 100.0
TIMES = np.concatenate([[0.0], np.geomspace(1.0, T_FINAL, 9)])
REPLICAS = 4
TOLERANCE = 0.10
COMMON = dict(lr=0.5, sigma=0.1)

#: One case per new option (issue 16, parts 1 and 3); the erf constant-rate run is the reference.
CASES = {
    "erf": {},
    "relu": dict(activation="relu"),
    "linear": dict(activation="linear"),
    "decay": dict(weight_decay=0.05),
    "batch": dict(batch=4),
    "inverse": dict(lr_schedule="inverse:10"),
    "piecewise": dict(lr_schedule="piecewise:1,10:0.5,40:0.25", lr2_schedule="piecewise:1,20:2"),
}


@pytest.fixture(scope="module")
def start():
    return simulate(N=500, M=2, K=2, vstar=1.0, steps=0, seed=0).initial


@needs_breadth
@pytest.mark.parametrize("name", list(CASES))
def test_order_engine_follows_the_ode_within_ten_percent(name, start):
    options = {**COMMON, **CASES[name]}
    ode = integrate(start, times=TIMES, **options)
    assert ode.success, ode.message
    worst = []
    for replica in range(REPLICAS):
        sim = simulate(N=N, steps=int(T_FINAL * N), times=TIMES, start=start, engine="order", seed=0,
                       data_seed=100 + replica, **options)
        np.testing.assert_allclose(sim.times, ode.times)
        worst.append(worst_deviation(sim.times, sim.eg, ode.eg, tmin=1.0))
    assert np.median(worst) <= TOLERANCE, f"{name}: worst deviations {np.round(worst, 4).tolist()}"


@needs_ode
def test_each_option_changes_the_ode():
    """The agreement above is no accident of options being ignored: each changes eps_g(t) by more than the tolerance
    (some relatively little, so this runs at t = 100, where they have acted longest)."""
    start = simulate(N=500, M=2, K=2, vstar=1.0, steps=0, seed=0).initial
    reference = integrate(start, times=TIMES, **COMMON).eg
    for name, options in CASES.items():
        if options:
            eg = integrate(start, times=TIMES, **COMMON, **options).eg
            assert np.max(np.abs(eg[1:] / reference[1:] - 1)) > TOLERANCE, name


def _linear_rates(t, y, K, M, T, vstar, lr, sigma, kappa, B, f, f2):
    """The ODE of linear networks written out by hand (g = x, g' = 1: I2 = I3 = I4 = C, J2 = 1), with weight
    decay (-2 kappa Q, -kappa R, -kappa v), mini-batches (1/B on the lr^2 term) and schedules eta(t) = lr f(t)."""
    Q = y[:K * K].reshape(K, K)
    R = y[K * K:K * K + K * M].reshape(K, M)
    v = y[K * K + K * M:]
    eta, eta_v = lr * f(t), lr * f2(t)
    dR = eta * np.outer(v, vstar @ T - v @ R) - kappa * R   # v_i [sum_m v*_m T_mn - sum_j v_j R_jn]
    first = np.outer(v, R @ vstar - Q @ v)              # v_i [sum_m v*_m R_km - sum_j v_j Q_kj]
    two_eg = vstar @ T @ vstar - 2 * v @ R @ vstar + v @ Q @ v
    dQ = eta * (first + first.T) + eta ** 2 / B * np.outer(v, v) * (two_eg + sigma ** 2) - 2 * kappa * Q
    dv = eta_v * (R @ vstar - Q @ v) - kappa * v
    return np.concatenate([dQ.ravel(), dR.ravel(), dv])


@needs_ode
def test_linear_ode_equals_its_hand_written_closed_form_with_every_option():
    """An independent statement of the ODE for linear networks, integrated by scipy, against integrate()."""
    from scipy.integrate import solve_ivp

    from tsdyn.dynamics.schedules import Schedule

    start = simulate(N=500, M=2, K=3, vstar=1.0, steps=0, seed=2).initial
    options = dict(activation="linear", weight_decay=0.03, batch=2, lr_schedule="inverse:5",
                   lr2_schedule="piecewise:1,3:0.5")
    f, f2 = Schedule.parse(options["lr_schedule"]).factor, Schedule.parse(options["lr2_schedule"]).factor
    y0 = np.concatenate([start.Q.ravel(), start.R.ravel(), start.v])
    args = (3, 2, start.T, start.vstar, 0.4, 0.2, 0.03, 2, f, f2)
    ref = solve_ivp(_linear_rates, (0.0, 10.0), y0, t_eval=TIMES[TIMES <= 10.0], args=args, rtol=1e-11, atol=1e-12,
                    method="DOP853")
    ours = integrate(start, times=TIMES[TIMES <= 10.0], lr=0.4, sigma=0.2, **options)
    np.testing.assert_allclose(ours.Q.reshape(len(ours.times), -1), ref.y[:9].T, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ours.v, ref.y[15:].T, rtol=1e-6, atol=1e-8)
