"""Saad & Solla's annealing result for erf students from the readable ODEs, quoted in theory/breadth.md.

The ODEs of tsdyn.dynamics.equations with eta -> eta_0 f(t) (f = 1, or 1 / (1 + t / tau)), integrated by
scipy from the breadth target's start (seed 0 drawn at N = 500; M = K = 2, v* = 1, sigma = 0.5,
eta_0 = 0.5). Independent of the fused ODE kernel; the fused ODE (integrate(lr_schedule=)) is compared at tau = 300.
Prints eps_g(t) and the least-squares slope of log eps_g on log t over late windows, and the
constant-rate floors eps_g(1e5) / (eta sigma^2) for eta = 0.125, 0.25, 0.5.
Run: ``python tools/breadth_annealing_erf.py`` (about 10 s).
"""
import numpy as np
from scipy.integrate import solve_ivp

from tsdyn.dynamics.equations import order_parameter_rates
from tsdyn.eg import eg
from tsdyn.order_parameters import OrderParameters
from tsdyn.simulate import simulate

SIGMA = 0.5
start = simulate(N=500, M=2, K=2, vstar=1.0, steps=0, seed=0).initial
y0 = np.concatenate([start.Q.ravel(), start.R.ravel(), start.v])
times = np.geomspace(1.0, 1e5, 26)


def rates(t, y, lr0, tau):
    Q, R, v = y[:4].reshape(2, 2), y[4:8].reshape(2, 2), y[8:]
    lr = lr0 * (1.0 if tau is None else 1.0 / (1.0 + t / tau))
    dQ, dR, dv = order_parameter_rates(OrderParameters((Q + Q.T) / 2, R, start.T, v, start.vstar), lr=lr, lr2=lr,
                                       sigma=SIGMA)
    return np.concatenate([dQ.ravel(), dR.ravel(), dv])


def curve(lr0, tau):
    sol = solve_ivp(rates, (0.0, times[-1]), y0, t_eval=times, args=(lr0, tau), method="LSODA", rtol=1e-8, atol=1e-11)
    return np.array([eg(y[:4].reshape(2, 2), y[4:8].reshape(2, 2), start.T, y[8:], start.vstar) for y in sol.y.T])


def slope(e, lo, hi):
    inside = (times >= lo) & (times <= hi)
    return np.polyfit(np.log(times[inside]), np.log(e[inside]), 1)[0]


for tau in (None, 30.0, 100.0, 300.0):
    e = curve(0.5, tau)
    print(f"tau = {tau}: " + " ".join(f"{t:g}:{x:.3g}" for t, x in zip(times[::3], e[::3])))
    print(f"    slope on [1e3, 2.1e3] {slope(e, 1e3, 2.1e3):.3f}, [2e3, 1e4] {slope(e, 2e3, 1e4):.3f}, "
          f"[1e4, 1e5] {slope(e, 1e4, 1e5):.3f}")
from tsdyn.dynamics.ode import integrate  # noqa: E402

fused = integrate(start, lr=0.5, sigma=SIGMA, times=np.concatenate([[0.0], times]), lr_schedule="inverse:300").eg[1:]
print(f"fused ODE (tsdyn.dynamics.ode), tau = 300: slope on [1e4, 1e5] {slope(fused, 1e4, 1e5):.3f}, "
      f"[5e3, 2e4] {slope(fused, 5e3, 2e4):.3f}; max |fused / readable - 1| = "
      f"{np.max(np.abs(fused / curve(0.5, 300.0) - 1)):.2e}")
for lr in (0.125, 0.25, 0.5):
    e = curve(lr, None)
    print(f"constant eta = {lr}: eps_g(1e5) = {e[-1]:.4g}, / (eta sigma^2) = {e[-1] / (lr * SIGMA ** 2):.4f}")
