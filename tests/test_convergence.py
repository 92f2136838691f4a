"""The measures of the ODE-vs-simulation convergence study, against independent computations."""
import numpy as np
import pytest
from scipy.stats import linregress

from tsdyn.dynamics.convergence import exit_law, fit_line, loglog_slope, worst_deviation


def test_fit_line_matches_scipy_linregress():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 5, 12)
    y = 1.7 * x - 0.3 + rng.normal(0, 0.2, 12)
    fit, ref = fit_line(x, y), linregress(x, y)
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-12)
    assert fit.slope_se == pytest.approx(ref.stderr, rel=1e-10)


def test_loglog_slope_recovers_a_power_law():
    N = np.array([500, 2000, 8000, 32000])
    assert loglog_slope(N, 3.0 * N ** -0.5).slope == pytest.approx(-0.5, abs=1e-12)


def test_worst_deviation_uses_the_window_only():
    t = np.array([0.0, 0.5, 1.0, 10.0, 100.0])
    ode = np.ones(5)
    sim = np.array([9.0, 3.0, 1.1, 0.95, 1.3])
    assert worst_deviation(t, sim, ode, tmin=1.0) == pytest.approx(0.3)
    assert worst_deviation(t, sim, ode, tmin=1.0, tmax=10.0) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="no record time"):
        worst_deviation(t, sim, ode, tmin=200.0)


def test_exit_law_slope_and_refusal():
    N = np.repeat([500, 4000, 32000], 3)
    t = 7.0 * np.log(N) + 5.0
    assert exit_law(N, t).slope == pytest.approx(7.0)
    with pytest.raises(ValueError, match="never left"):
        exit_law(N, np.where(N > 1000, np.nan, t))


def test_criterion_on_planted_power_laws():
    from tsdyn.dynamics.convergence import ConvergenceCriterion

    rng = np.random.default_rng(1)
    Ns = np.repeat([500, 2000, 8000, 32000, 128000], 8)
    worst = 0.4 * (Ns / 500.0) ** -0.5 * rng.uniform(0.8, 1.2, Ns.size)
    verdict = ConvergenceCriterion().judge(Ns, worst)
    assert verdict["slope"] == pytest.approx(-0.5, abs=0.05) and verdict["holds"]
    assert verdict["median_at_N_max"] == pytest.approx(np.median(worst[Ns == 128000]))
    flat = ConvergenceCriterion().judge(Ns, np.full(Ns.size, 0.02))       # no convergence: slope 0
    assert not flat["slope_ok"] and not flat["holds"] and flat["median_ok"]
    one_bad = worst.copy()
    one_bad[-1] = 0.2                                                      # one replica 20 % off at N max
    assert not ConvergenceCriterion().judge(Ns, one_bad)["max_ok"]
    reduced = ConvergenceCriterion().judge(Ns[Ns <= 8000], worst[Ns <= 8000])   # N max < final_N: slope only
    assert reduced["median_ok"] is None and reduced["holds"] == reduced["slope_ok"]


def test_exit_summary_against_a_planted_law():
    from tsdyn.dynamics.convergence import exit_summary

    rng = np.random.default_rng(2)
    N = np.repeat([500, 4000, 32000], 200)
    t = 6.6 * np.log(N) + 10 + rng.normal(0, 7, N.size)
    e = exit_summary(N, t, 6.65)
    assert e["slope"] == pytest.approx(6.6, abs=3 * e["slope_se"]) and e["agrees"]
    assert e["per_N"][4000][1] == pytest.approx(7, rel=0.15)
    assert not exit_summary(N, 2 * t, 6.65)["agrees"]
